"""The catalogue as the pages read it: browsing with filters and paging, slots, overview and warnings."""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dashboard.queries import catalogue as q
from dashboard.queries.tables import ROUTING_ORDER, api_models, one_of
from dashboard.services import catalogue_changes
from dashboard.services import routing_rules as rules
from dashboard.services.base import ActingService, Row, as_uuid
from dashboard.services.errors import ModelNotFound
from dashboard.services.routing_rules import Finding, Impact
from dashboard.services.spend import UNIT_NAMES
from dashboard.services.transfer.formats import exact_row
from dashboard.services.usage import UsageRange, UsageService, failure_rate
from dashboard.services.validation import MODALITIES

Status = Literal["active", "inactive", "all"]
DataVersion = tuple[int, bool]  # (catalogue writes counted, none of them uncommitted): see data_version()
# Per database, the last count of writes seen settled: it stays settled (a later write moves the count), so the
# locks are looked at once per count and process.
_SETTLED: dict[str, int] = {}
SORTS = {
    "priority": "Priority, then name (as routing)",
    "name": "Name",
    "updated": "Recently updated",
    "slot": "Modality, task, priority",
}
MAX_SEARCH = 200
_m = api_models
_ORDER = {
    "priority": ROUTING_ORDER,
    "name": (sa.func.lower(_m.c.display_name),),
    "updated": (_m.c.updated_at.desc(),),
    "slot": (_m.c.modality, _m.c.task, *ROUTING_ORDER),
}


@dataclass(frozen=True)
class ModelFilters:
    """What the Models page filters by; every field optional."""

    search: str = ""
    modality: str | None = None
    task: str | None = None
    provider_id: UUID | None = None
    status: Status = "all"
    default_only: bool = False
    sort: str = "priority"


@dataclass(frozen=True)
class Slot:
    """One modality and task: its default, how many models can take its jobs, what routing picks, and the
    findings an admin should know about (routing_rules.slot_findings). Build it with slot_of()."""

    modality: str
    task: str
    models: int
    active_models: int
    candidates: int
    default_id: UUID | None
    default_name: str | None
    default_active: bool
    default_provider_active: bool
    picked_id: UUID | None = None  # what routing picks now (None when nothing can take the slot's jobs)
    picked_name: str | None = None
    findings: tuple[Finding, ...] = ()
    next_id: UUID | None = None  # the next in line after the pick (what takes over when the pick fails)

    @property
    def default_passed_over(self) -> bool:
        """The default can take jobs, yet routing picks another model (a lower priority number comes first)."""
        return any(f.code == "default_passed_over" for f in self.findings)

    @property
    def label(self) -> str:
        return f"{self.modality}/{self.task}"


def slot_of(modality: str, task: str, models: list[Row], *, counts: tuple[int, int, int] | None = None) -> Slot:
    """A slot from all its models (with the fields routing_rules reads), by the routing rules; or from only its
    routing_rules.relevant_models, given its counts (models, active models, models that can take jobs)."""
    ranked = rules.candidates(models)
    default = min((m for m in models if m["is_default"]), key=rules.routing_key, default=None)
    picked = ranked[0] if ranked else None
    total, active, candidates = counts or (len(models), sum(bool(m["is_active"]) for m in models), len(ranked))
    return Slot(
        modality=modality,
        task=task,
        models=total,
        active_models=active,
        candidates=candidates,
        default_id=default["id"] if default else None,
        default_name=default["display_name"] if default else None,
        default_active=bool(default and default["is_active"]),
        default_provider_active=bool(default and default["provider_active"]),
        picked_id=picked["id"] if picked else None,
        picked_name=picked["display_name"] if picked else None,
        findings=tuple(rules.slot_findings(f"{modality}/{task}", models, candidate_count=candidates)),
        next_id=ranked[1]["id"] if len(ranked) > 1 else None,
    )


def slots_of(rows: list[Row]) -> list[Slot]:
    """Every slot from SLOT_FACTS' rows (a few per slot: see routing_rules.relevant_models)."""
    return [
        slot_of(
            modality,
            task,
            models,
            counts=(models[0]["models_in_slot"], models[0]["active_in_slot"], models[0]["candidates_in_slot"]),
        )
        for (modality, task), models in rules.by_slot(rows).items()
    ]


SlotRead = Literal["facts", "picks"]
_SLOT_READS = {"facts": q.slot_facts, "picks": q.slot_picks}

Picks = dict[str, str | None]  # each routed slot's pick's id (as text) -> its next in line's id, or None


def picks_of(rows: list[Row]) -> Picks:
    """Every routed slot's pick and next in line, from SLOT_PICKS' rows (or SLOT_FACTS'), by the routing rules."""
    picks: Picks = {}
    for models in rules.by_slot(rows).values():
        ranked = rules.candidates(models)
        if ranked:
            picks[str(ranked[0]["id"])] = str(ranked[1]["id"]) if len(ranked) > 1 else None
    return picks


def slot_picks(slots: list[Slot]) -> Picks:
    """The same from slots already read (list_slots)."""
    return {str(s.picked_id): str(s.next_id) if s.next_id else None for s in slots if s.picked_id}


# What needs an admin in a slot (routing_rules.Finding: severity, code, slot, message).
Warning = Finding


@dataclass
class Overview:
    counts: dict[str, int]
    jobs_30d: int
    failure_rate_30d: float | None
    warnings: list[Warning] = field(default_factory=list)
    rule_breaks: list[str] = field(default_factory=list)  # see rule_breaks()
    jobs_open_to_people: list[str] = field(default_factory=list)  # a live jobs table's policies that let people
    # write status or rating


def choice_order(row: Row) -> tuple[str, str, str]:
    """The order models are offered in by name: name and provider without regard to case, then id."""
    return (row["display_name"] or "").casefold(), (row["provider_name"] or "").casefold(), str(row["id"])


def escape_like(text: str) -> str:
    """Text matched literally inside a LIKE pattern (backslash is the escape character)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def price_summary(pricing: Any) -> str:
    """A model's price in a few characters for a table cell ("0.0023 USD / image"): the billing unit's price, else
    the first per-unit price; "" when there is none. Safe for any JSON a row may hold (written by SQL): only a
    number is shown as a price, a currency only when it is a three-letter code, a unit only when it is known."""
    if not isinstance(pricing, dict):
        return ""
    units = [pricing.get("billing_unit"), *(k for k in pricing if isinstance(k, str) and k.startswith("per_"))]
    unit = next((u for u in units if isinstance(u, str) and u in UNIT_NAMES and _is_price(pricing.get(u))), None)
    if unit is None:
        return ""
    currency = pricing.get("currency")
    currency = f" {currency}" if isinstance(currency, str) and re.fullmatch(r"[A-Z]{3}", currency) else ""
    return f"{float(pricing[unit]):.6g}{currency} / {UNIT_NAMES[unit]}"


def _is_price(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool) and math.isfinite(value)


def export_file_name(filters: ModelFilters, extension: str, *, provider: str | None = None) -> str:
    """The Models page's export named after its filters ("models-image-generation.csv"; "models.csv" unfiltered),
    with every part reduced to lowercase letters, digits and dashes so that any value makes a safe file name."""
    parts = [
        filters.modality,
        filters.task,
        provider,
        None if filters.status == "all" else filters.status,
        "defaults" if filters.default_only else None,
        filters.search,
    ]
    slugs = [slug for part in parts if part and (slug := _slug(part))]
    return "-".join(["models", *slugs])[:120].rstrip("-") + f".{extension}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40].strip("-")


def _where(filters: ModelFilters) -> list[Any]:
    conditions: list[Any] = []
    search = filters.search.replace("\x00", "").strip()[:MAX_SEARCH]
    if search:
        pattern = f"%{escape_like(search)}%"
        conditions.append(
            sa.or_(*(c.ilike(pattern, escape="\\") for c in (_m.c.display_name, _m.c.model_key, _m.c.model_family)))
        )
    if filters.modality:
        conditions.append(_m.c.modality == filters.modality)
    if filters.task:
        conditions.append(_m.c.task == filters.task)
    if filters.provider_id:
        conditions.append(_m.c.provider_id == filters.provider_id)
    if filters.status != "all":
        conditions.append(_m.c.is_active.is_(filters.status == "active"))
    if filters.default_only:
        conditions.append(_m.c.is_default.is_(True))
    return conditions


def _ordered(statement: sa.Select, filters: ModelFilters) -> sa.Select:
    return statement.order_by(*_ORDER.get(filters.sort, _ORDER["priority"]), _m.c.id)


def slot_counts(slots: list[Slot]) -> dict[str, int]:
    """The Overview's model counts from the slots (every model is in one): models, active ones, active defaults."""
    return {
        "active_models": sum(slot.active_models for slot in slots),
        "models": sum(slot.models for slot in slots),
        "defaults": sum(1 for slot in slots if slot.default_id is not None and slot.default_active),
    }


def slot_warnings(slots: list[Slot]) -> list[Finding]:
    """What needs an admin in these slots (routing_rules.slot_findings of each), slot by slot."""
    return [finding for slot in slots for finding in slot.findings]


class CatalogueService(ActingService):
    """Read-side views of the catalogue for the dashboard's pages, as one person sees them."""

    def data_version(self) -> DataVersion:
        """What changes whenever the catalogue does, part of every cache key: (writes, settled), the count of writes
        and whether none of them is still uncommitted. A read made while one is keeps to its own key, so it is not
        served once the write commits (migration 0018)."""
        database = self.engine.url.render_as_string(hide_password=True)
        known = _SETTLED.get(database)
        with self._transaction() as conn:
            writes, settled = conn.execute(q.DATA_VERSION, {"known": known}).one()
        if settled:
            _SETTLED[database] = int(writes)
        return int(writes), bool(settled)

    def browse_models(self, filters: ModelFilters, *, limit: int = 50, offset: int = 0) -> tuple[list[Row], int]:
        """One page of models matching the filters, and how many match in all."""
        base = q.BROWSE.where(*_where(filters))
        with self._transaction() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(base.subquery())).scalar_one()
            page = _ordered(base, filters).limit(max(1, min(limit, 1000))).offset(max(0, offset))
            return [dict(r._mapping) for r in conn.execute(page)], total

    def count_models(self, filters: ModelFilters) -> int:
        """How many models match the filters (browse_models' total, on its own)."""
        with self._transaction() as conn:
            base = q.BROWSE.where(*_where(filters)).subquery()
            return conn.execute(sa.select(sa.func.count()).select_from(base)).scalar_one()

    def models_page(self, filters: ModelFilters, *, limit: int = 50, offset: int = 0) -> list[Row]:
        """One page of models matching the filters (browse_models' rows, without counting them all again)."""
        page = _ordered(q.BROWSE.where(*_where(filters)), filters)
        return self._rows(page.limit(max(1, min(limit, 1000))).offset(max(0, offset)))

    def provider_choices(self) -> list[Row]:
        """Every visible provider's id, name, display name and whether it is active (no model counts), by name."""
        return self._rows(q.PROVIDER_CHOICES)

    def model_choices(self) -> list[Row]:
        """Every visible model's id and name (with its provider's, to tell namesakes apart), by name (choice_order)."""
        return sorted(self._rows(q.MODEL_CHOICES), key=choice_order)

    def model_choices_since(self, kept: list[Row], writes: int, epoch: str) -> list[Row] | None:
        """kept (model_choices() as of the count writes) brought up to date: the models written to since are read
        again, the others kept; None when only a whole read can say (see catalogue_changes)."""
        found = self._changes_since(
            writes,
            epoch,
            lambda conn, changes: (
                [dict(r._mapping) for r in conn.execute(q.MODEL_CHOICES.where(one_of(changes.ids)))]
                if changes.ids
                else []
            ),
        )
        if found is None:
            return None
        changes, fresh = found
        if not changes.ids:
            return kept
        rows = [row for row in kept if str(row["id"]) not in changes.ids]
        for row in fresh:  # kept is in choice_order already: each changed row goes to its place
            bisect.insort(rows, row, key=choice_order)
        return rows

    def export_models(self, filters: ModelFilters) -> list[Row]:
        """Every matching model as the import reads it back (queries.transfer.EXPORT, the one export query, with
        the rows' timestamps), in the page's order. The JSONB fields are read as PostgreSQL prints them and parsed
        with exact decimals, so an export keeps every digit."""
        statement = _ordered(q.MODELS_EXPORT.where(*_where(filters)).order_by(None), filters)
        with self._transaction() as conn:
            return [exact_row(row) for row in conn.execute(statement)]

    def list_tasks(self) -> list[tuple[str, str]]:
        """Every (modality, task) pair in the catalogue."""
        return [(r["modality"], r["task"]) for r in self._rows(q.TASKS_SKIPPING)]

    def list_slots(self) -> list[Slot]:
        """Every modality and task with its default and candidate counts."""
        return slots_of(self.slot_rows("facts"))

    def routed_picks(self) -> Picks:
        """Every routed slot's pick and next in line: what list_slots says of them, read from active rows only."""
        return picks_of(self.slot_rows("picks"))

    def slot_rows(self, which: SlotRead) -> list[Row]:
        """The rows slots_of ("facts": SLOT_FACTS, a few per slot) or picks_of ("picks": SLOT_PICKS) reads."""
        return self._rows(_SLOT_READS[which]())

    def changes_epoch(self) -> str | None:
        """The catalogue change log's epoch, read before a whole read that a ..._since read is to bring up to date
        later (None: this person may not read the log)."""
        with self._transaction() as conn:
            return catalogue_changes.epoch(conn)

    def slot_rows_since(self, which: SlotRead, kept: list[Row], writes: int, epoch: str) -> list[Row] | None:
        """kept (slot_rows(which) as of the count writes) brought up to date: the slots written to since are read
        again, the others kept; None when only a whole read can say (see catalogue_changes)."""
        found = self._changes_since(
            writes,
            epoch,
            lambda conn, changes: (
                [dict(r._mapping) for r in conn.execute(_SLOT_READS[which](changes.slots))] if changes.slots else []
            ),
        )
        if found is None:
            return None
        changes, fresh = found
        return catalogue_changes.by_slot_brought_up_to_date(kept, fresh, changes.slots)

    def default_impact(self, model_id: UUID | str) -> list[Impact]:
        """What making this model its slot's default would do to routing, worst first (ModelNotFound if gone)."""
        model_id = as_uuid(model_id)
        before, after = self.default_states(model_id)
        if not any(m["id"] == model_id for m in before):
            raise ModelNotFound(f"No model with id {model_id}; it may have been deleted")
        return rules.change_impact(before, after)

    def default_states(self, model_id: UUID | str) -> tuple[list[Row], list[Row]]:
        """The model's slot as it is and once the model is its default (both empty when the model is gone)."""
        model_id = as_uuid(model_id)
        with self._transaction() as conn:
            rows = conn.execute(q.MODELS_OF_SLOT_OF, {"id": model_id})
            models = rules.with_name_ranks(dict(r._mapping) for r in rows)
        return models, rules.with_default(models, model_id)

    def overview(self, *, days: int = 30, slots: list[Slot] | None = None, jobs: bool = True) -> Overview:
        """Counts, recent jobs and failure rate, and the warnings that need an admin. slots: list_slots() as the
        caller already has it; jobs=False leaves the job figures at 0 and None (recent_jobs() reads them alone)."""
        slots = self.list_slots() if slots is None else slots
        with self._transaction() as conn:
            if conn.execute(q.RULES_ENFORCED).scalar():
                # Every pass over api_models pays its per-row policy checks: where the database enforces the rules
                # there is nothing to count, and the slots already hold the model counts.
                counts = {**slot_counts(slots), **conn.execute(q.PROVIDER_COUNTS).one()._mapping}
                breaks = dict.fromkeys(_RULES, 0)
            else:
                counts = dict(conn.execute(q.OVERVIEW_FACTS).one()._mapping)
                breaks = {rule: counts.pop(f"rule_{rule}") for rule in _RULES}
            forgeable = list(conn.execute(q.JOB_POLICIES_OPEN_TO_PEOPLE).scalars())
        recent, rate = self.recent_jobs(days=days) if jobs else (0, None)
        return Overview(
            counts=counts,
            jobs_30d=recent,
            failure_rate_30d=rate,
            warnings=slot_warnings(slots),
            rule_breaks=rule_breaks(breaks),
            jobs_open_to_people=forgeable,
        )

    def recent_jobs(
        self, *, days: int = 30, usage: UsageService | None = None, catalogue: pd.DataFrame | None = None
    ) -> tuple[int, float | None]:
        """Jobs created today and in the days before it (UTC), whatever their status, and their failure rate: of the
        models this person sees, counted now (UsageService.totals). usage: this person's (a page's reads a replica);
        catalogue: the models as a page keeps them (else their ids are read here)."""
        usage = usage or UsageService(self.engine, user_id=self.user_id)
        jobs, completed, failed = usage.totals(UsageRange.last_days(days), catalogue=catalogue)
        return jobs, failure_rate(failed, completed)


@dataclass(frozen=True)
class ReadPolicies:
    """What the read policies of api_models, api_providers and jobs mean for cached reads (read_policies())."""

    same_rows_per_role: bool  # in the catalogue, everyone whom has_role() gives the same answer sees the same rows
    per_row_checks: tuple[str, ...] = ()  # api_models policies that call auth.uid() or has_role() once per row
    admins_see_every_job: bool = False  # jobs: RLS off, or an admin policy of the seed's shape and no restrictive one


# Policy expressions under which which rows a person sees depends on nothing but the row and whether has_role()
# calls them an admin: the seed's two (and their "(select ...)" forms), and the dashboard's "true" for providers.
# Any other expression (per-owner rows, another role, a claim) may show two admins different rows.
_ADMIN = "has_role(auth.uid(),'admin'::app_role)"
_ROLE_ONLY = frozenset({"true", "is_active", "is_active=true", _ADMIN})
_WRAPPED = (
    (re.compile(r"\(selectauth\.uid\(\)asuid\)"), "auth.uid()"),
    (re.compile(r"\(selecthas_role\(auth\.uid\(\),'admin'::app_role\)ashas_role\)"), _ADMIN),
)
# Calls that PostgreSQL makes once per row unless wrapped in a scalar "(select ...)", which it runs once per query.
_PER_ROW_CALL = re.compile(r"(?<!\(select)(auth\.(uid|jwt|role|email)\(\)|has_role\(|current_setting\()")


def _compact(expression: str) -> str:
    """A policy expression without whitespace, lowercase and without "public." outside its string literals."""
    parts = expression.split("'")
    for n in range(0, len(parts), 2):  # the even parts are outside quotes
        parts[n] = re.sub(r"\s+", "", parts[n]).lower().replace("public.", "")
    return "'".join(parts)


def policy_expression(expression: str | None) -> str | None:
    """A policy's USING expression normalised for comparison: compact, "(select ...)" wrappers of the seed's calls
    undone, redundant outer parentheses dropped. None stays None (no expression: nothing to compare)."""
    if expression is None:
        return None
    text = _compact(expression)
    for wrapped, plain in _WRAPPED:
        text = wrapped.sub(plain, text)
    while text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
        text = text[1:-1]
    return text


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def calls_per_row(expression: str | None) -> bool:
    """Whether a policy expression calls auth.uid(), has_role() or a claim once per row (not in a "(select ...)")."""
    return expression is not None and _PER_ROW_CALL.search(_compact(expression)) is not None


def read_policies(engine: Engine) -> ReadPolicies:
    """Read the catalogue's and jobs' read policies (pg_policies; one cheap query, as the server's login role).

    Catalogue rows are the same for every person of one role when each of its tables either has RLS off or only
    policies whose expression is in _ROLE_ONLY; a missing table shares nothing."""
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q.READ_POLICIES)]
    tables = {row["table_name"] for row in rows}
    catalogue = [row for row in rows if row["table_name"] != "jobs"]
    role_only = {"api_models", "api_providers"} <= tables and all(
        not row["rls"] or row["policyname"] is None or policy_expression(row["qual"]) in _ROLE_ONLY for row in catalogue
    )
    jobs = [row for row in rows if row["table_name"] == "jobs"]
    every_job = bool(jobs) and (
        not jobs[0]["rls"]
        or (
            all(row["permissive"] == "PERMISSIVE" for row in jobs)
            and any(policy_expression(row["qual"]) == _ADMIN for row in jobs)
        )
    )
    per_row = tuple(
        row["policyname"]
        for row in rows
        if row["table_name"] == "api_models" and row["rls"] and row["policyname"] and calls_per_row(row["qual"])
    )
    return ReadPolicies(same_rows_per_role=role_only, per_row_checks=per_row, admins_see_every_job=every_job)


def per_row_check_note(policies: ReadPolicies, *, models: int) -> str | None:
    """The Overview's note on api_models policies that make a check once per row (None when none does): what it
    costs, what Supabase's advisor calls it, and what the dashboard does about it (it never changes the policy)."""
    if not policies.per_row_checks:
        return None
    names = ", ".join(f'"{name}"' for name in policies.per_row_checks)
    after = (
        "The dashboard leaves the policy as it is and shares each read among the people of one role, so a "
        "change costs the first click after it this check, not every person's first click."
        if policies.same_rows_per_role
        else "The dashboard leaves the policy as it is; each person's first click after a change pays this check."
    )
    return (
        f"The api_models policy {names} calls auth.uid() or has_role() once for every row a read looks at: "
        f"reading all {models:,} models makes {models:,} calls instead of one. Supabase's database advisor reports "
        'this as "Auth RLS Initialization Plan" (auth_rls_initplan); written as '
        "(select has_role((select auth.uid()), 'admin')), the call runs once per query. " + after
    )


_RULES = {
    "modality": "modality outside text, image, video and audio",
    "defaults": "more than one default in one slot (modality and task)",
    "json": "JSON fields that are not objects",
    "blank": "blank model_key, display_name or task",
}


def rule_findings(engine: Engine) -> list[str]:
    """The seed's rules that rows of api_models break, read as the table owner (migrating, attaching to a live
    project): "rule not enforced here: ..." lines, nothing when all hold or there is no catalogue yet."""
    with engine.connect() as conn:
        if not conn.execute(q.CATALOGUE_EXISTS).scalar():
            return []
        counts = dict(conn.execute(q.RULE_BREAKS).one()._mapping)
    return [f"rule not enforced here: {finding}" for finding in rule_breaks(counts)]


def rule_breaks(counts: dict[str, int]) -> list[str]:
    """The seed's rules that models break, each with how many (from queries.catalogue.RULE_BREAKS)."""
    return [f"{n} model{'s' if n != 1 else ''}: {_RULES[rule]}" for rule, n in counts.items() if n]


def slot_cell(slot: Slot) -> str:
    """A slot in a few words (routing_rules.summary_cell): its default and active candidates (· N), with a
    leading ⚠ when its jobs may not route as an admin expects. Short, so that four modalities fit side by side."""
    return rules.summary_cell(slot.findings, default_name=slot.default_name, candidates=slot.candidates)


def slot_grid(slots: list[Slot]) -> pd.DataFrame:
    """One row per task, one column per modality (text, image, video, audio); "" where no such slot exists."""
    cells = {(s.task, s.modality): slot_cell(s) for s in slots}
    modalities = [*MODALITIES, *sorted({s.modality for s in slots} - set(MODALITIES))]
    rows = [
        {"task": task, **{m: cells.get((task, m), "") for m in modalities}} for task in sorted({s.task for s in slots})
    ]
    return pd.DataFrame(rows, columns=["task", *modalities])
