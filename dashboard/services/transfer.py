"""Export and import the catalogue: JSON that keeps the JSONB fields exactly, CSV with them as JSON text.

An import is keyed on (provider name, model_key, version): a row matching a model updates it, any other
row adds one. plan() is the dry run: every row as new, changed (with the field diff) or unchanged,
and every problem with its row and field. apply() runs the same plan again inside one transaction and
writes everything or nothing; if the catalogue changed since the dry run, it refuses.

JSONB numbers are read as PostgreSQL prints them and parsed as Decimal, and written back from that
text, so 0.10 stays 0.10 and long decimals keep every digit; a round trip changes nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from dashboard.export import csv_bytes, unguard
from dashboard.queries.tables import api_models, api_providers
from dashboard.services.base import ActingService, Row
from dashboard.services.diff import Change, field_changes
from dashboard.services.errors import EditConflict, ImportRefused, InvalidModel, NotAllowed
from dashboard.services.models import _CREATED_BY, _INSERT_DEFAULTS, _clear_slot_default, _refuse_inactive_default
from dashboard.services.slot_locks import lock_for_writing
from dashboard.services.validation import JSON_FIELDS, validate_model_fields
from dashboard.text import json_visible, visible

FORMAT = "api_models/v1"
# provider (by name) and model_key are required in every row; the rest may be left out of an update.
COLUMNS = (
    "provider", "model_key", "version", "display_name", "modality", "task", "model_family", "endpoint_path",
    "input_defaults", "capabilities", "pricing", "output_format", "is_active", "is_default", "priority",
)  # fmt: skip
KEY_COLUMNS = ("provider", "model_key")
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 20_000
_m, _p = api_models, api_providers
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
Progress = Callable[[int, int], None]
Key = tuple[str, str, str | None]


# ─── Exact JSON ────────────────────────────────────────────────────────────────────────────────
def loads_exact(text: str) -> Any:
    """JSON with every non-integer number as a Decimal, so no digit is lost."""
    return json.loads(text, parse_float=Decimal)


def dumps_exact(value: Any) -> str:
    """JSON text in which Decimals keep their digits (json.dumps would refuse or round them)."""
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{json.dumps(str(k), ensure_ascii=False)}: {dumps_exact(v)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, list):
        return "[" + ", ".join(dumps_exact(v) for v in value) + "]"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("JSON has no NaN or Infinity")
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _as_float(value: Any) -> Any:
    """The same JSON with floats, for the validation rules (which check numbers as int or float)."""
    if isinstance(value, dict):
        return {k: _as_float(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_float(v) for v in value]
    return float(value) if isinstance(value, Decimal) else value


# ─── Export ───────────────────────────────────────────────────────────────────────────────────
_EXPORT = (
    sa.select(
        _p.c.name.label("provider"), _m.c.model_key, _m.c.version, _m.c.display_name, _m.c.modality, _m.c.task,
        _m.c.model_family, _m.c.endpoint_path,
        *(sa.cast(_m.c[name], sa.Text).label(name) for name in JSON_FIELDS),
        _m.c.output_format, _m.c.is_active, _m.c.is_default, _m.c.priority, _m.c.id,
    )
    .select_from(_m.join(_p, _m.c.provider_id == _p.c.id))
    .order_by(_p.c.name, _m.c.model_key, _m.c.version, _m.c.id)
)  # fmt: skip


def _exact_row(row: sa.Row) -> Row:
    values = dict(row._mapping)
    for name in JSON_FIELDS:
        values[name] = loads_exact(values[name]) if values[name] is not None else {}
    return values


def to_json(rows: Iterable[Row]) -> str:
    """The export document: the format, when, and the models (without ids: the key is provider/key/version).

    Control and invisible characters in its strings are written as \\u escapes: the same data, but a file that
    shows what it holds in an editor, a diff or a terminal.
    """
    models = [{c: r.get(c) for c in COLUMNS} for r in rows]
    body = json_visible(",\n    ".join(dumps_exact(m) for m in models))
    head = {"format": FORMAT, "exported_at": datetime.now(UTC).isoformat(timespec="seconds")}
    return f'{{"format": {json.dumps(head["format"])}, "exported_at": {json.dumps(head["exported_at"])},\n' + (
        f'  "models": [\n    {body}\n  ]\n}}\n' if models else '  "models": []\n}\n'
    )


def to_csv(rows: Iterable[Row]) -> bytes:
    """CSV with JSON fields as JSON text and true/false flags, through the one guarded writer (dashboard.export)."""
    lines = []
    for row in rows:
        cells = []
        for column in COLUMNS:
            value = row.get(column)
            if column in JSON_FIELDS:
                value = dumps_exact(value if value is not None else {})
            elif isinstance(value, bool):
                value = "true" if value else "false"
            cells.append(None if value is None else str(value))
        lines.append(cells)
    return csv_bytes(COLUMNS, lines)


# ─── Reading a file ─────────────────────────────────────────────────────────────────────────────
@dataclass
class SourceRow:
    """One model as the file gives it: where it is (line or position) and its raw values."""

    where: str
    values: dict[str, Any]


def read_file(data: bytes, name: str = "") -> list[SourceRow]:
    """The rows of a JSON or CSV file (told apart by name, else by content); ImportRefused when unreadable."""
    if len(data) > MAX_FILE_BYTES:
        raise ImportRefused(
            f"the file is {len(data) / 1024 / 1024:.1f} MB; at most {MAX_FILE_BYTES // 1024 // 1024} MB"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRefused(f"the file is not UTF-8 text (byte {exc.start + 1}); save it as UTF-8") from None
    if "\x00" in text:
        raise ImportRefused("the file contains NUL characters; it is not a JSON or CSV text file")
    lower = name.lower()
    is_json = lower.endswith(".json") or (not lower.endswith(".csv") and text.lstrip()[:1] in ("{", "["))
    rows = _read_json(text) if is_json else _read_csv(text)
    if not rows:
        raise ImportRefused("the file has no models")
    if len(rows) > MAX_ROWS:
        raise ImportRefused(f"the file has {len(rows):,} models; at most {MAX_ROWS:,} per import")
    return rows


def _read_json(text: str) -> list[SourceRow]:
    try:
        document = loads_exact(text)
    except ValueError as exc:
        raise ImportRefused(f"the JSON is broken: {exc}") from None
    except RecursionError:
        raise ImportRefused("the JSON is nested too deeply") from None
    if isinstance(document, dict):
        if "models" not in document:
            raise ImportRefused('the JSON must be a list of models or an object with a "models" list')
        document = document["models"]
    if not isinstance(document, list):
        raise ImportRefused('"models" must be a list')
    rows = []
    for index, item in enumerate(document, start=1):
        if not isinstance(item, dict):
            rows.append(SourceRow(f"model {index}", {"__error__": "is not an object"}))
        else:
            rows.append(SourceRow(f"model {index}", item))
    return rows


def _read_csv(text: str) -> list[SourceRow]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ImportRefused("the file is empty") from None
    except csv.Error as exc:
        raise ImportRefused(f"the CSV is broken: {exc}") from None
    header = [h.strip() for h in header]
    _check_columns(header)
    rows = []
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                rows.append(
                    SourceRow(f"line {line}", {"__error__": f"has {len(values)} cells; the header has {len(header)}"})
                )
                continue
            rows.append(SourceRow(f"line {line}", {h: _csv_value(h, v) for h, v in zip(header, values, strict=True)}))
    except csv.Error as exc:
        raise ImportRefused(f"the CSV is broken at line {reader.line_num}: {exc}") from None
    return rows


def _check_columns(header: list[str]) -> None:
    unknown = [h for h in header if h not in COLUMNS and h != "id"]
    missing = [c for c in KEY_COLUMNS if c not in header]
    twice = sorted({h for h in header if header.count(h) > 1})
    problems = []
    if unknown:
        problems.append(f"unknown columns: {', '.join(repr(u[:40]) for u in unknown[:10])}")
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    if twice:
        problems.append(f"columns given twice: {', '.join(twice)}")
    if problems:
        raise ImportRefused("; ".join(problems) + f". The columns are: {', '.join(COLUMNS)}")


def _csv_value(column: str, cell: str) -> Any:
    """A CSV cell as the value it stands for ('' is no value; the export's leading ' is taken off again). A JSON
    field stays text here: it is parsed when the row is checked, so that a broken one names its row."""
    cell = unguard(cell)  # exactly the guard the export added (dashboard.export.guard)
    if cell == "":
        return None
    if column in ("is_active", "is_default"):
        return _BOOLEANS.get(cell.strip().lower(), cell)
    if column == "priority":
        try:
            return int(cell.strip())
        except ValueError:
            return cell
    return cell


# ─── The plan ─────────────────────────────────────────────────────────────────────────────────
@dataclass
class PlanRow:
    where: str
    key: Key | None
    status: str  # "new", "changed", "unchanged" or "error"
    display_name: str = ""
    changes: list[Change] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    model_id: UUID | None = None
    values: dict[str, Any] = field(default_factory=dict)  # what to write (JSON fields with exact numbers)
    current: Row | None = None  # the model as it is now, for an existing one

    @property
    def after(self) -> Row:
        """The model as it will be: now, with this row's values on top."""
        return {**(self.current or {}), **self.values}

    def describe_key(self) -> str:
        if not self.key:
            return "—"
        provider, model_key, version = self.key
        return f"{provider}/{model_key}" + (f" v{version}" if version else "")


@dataclass
class ImportPlan:
    rows: list[PlanRow]

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.rows)

    @property
    def ok(self) -> bool:
        return not self.count("error")

    @property
    def writes(self) -> list[PlanRow]:
        return [r for r in self.rows if r.status in ("new", "changed")]

    def fingerprint(self) -> str:
        """What the plan would write: two plans with the same fingerprint write the same thing."""
        digest = hashlib.sha256()
        for row in self.rows:
            digest.update(repr((row.where, row.status, row.model_id, [(c.path, repr(c.before), repr(c.after))
                                                                      for c in row.changes])).encode())  # fmt: skip
        return digest.hexdigest()


class TransferService(ActingService):
    """Export and import as one person: RLS decides what they see and may write."""

    def export_rows(self, *, modality: str | None = None, task: str | None = None, provider: str | None = None,
                    active_only: bool = False) -> list[Row]:  # fmt: skip
        """Every visible model (optionally filtered), with its provider's name and exact JSON fields."""
        statement = _EXPORT
        for column, value in ((_m.c.modality, modality), (_m.c.task, task), (_p.c.name, provider)):
            if value:
                statement = statement.where(column == value)
        if active_only:
            statement = statement.where(_m.c.is_active.is_(True))
        with self._transaction() as conn:
            return [_exact_row(r) for r in conn.execute(statement)]

    def plan(self, data: bytes, name: str = "", *, progress: Progress | None = None) -> ImportPlan:
        """The dry run: nothing is written."""
        rows = read_file(data, name)
        with self._transaction() as conn:
            return _plan(conn, rows, progress)

    def apply(self, data: bytes, name: str = "", *, expected: str | None = None,
              progress: Progress | None = None) -> ImportPlan:  # fmt: skip
        """Plan again and write it in one transaction: everything or nothing.

        expected is the dry run's fingerprint: if the plan now differs (someone changed the catalogue
        in between), nothing is written and EditConflict says to look again.
        """
        rows = read_file(data, name)
        with self._transaction() as conn:
            lock_for_writing(conn, whole_table=True)  # the one lock order: services/slot_locks.py
            plan = _plan(conn, rows, None)
            if not plan.ok:
                raise InvalidModel({r.where: "; ".join(f"{k}: {v}" for k, v in r.problems.items())
                                    for r in plan.rows if r.status == "error"})  # fmt: skip
            if expected is not None and plan.fingerprint() != expected:
                raise EditConflict("The catalogue changed since the dry run; run the dry run again and check it")
            _write(conn, plan, progress)
        return plan


def _plan(conn: sa.Connection, rows: list[SourceRow], progress: Progress | None) -> ImportPlan:
    providers = {r.name: r for r in conn.execute(sa.select(_p.c.id, _p.c.name, _p.c.display_name, _p.c.is_active))}
    existing: dict[Key, list[Row]] = {}
    for row in conn.execute(_EXPORT.add_columns(_m.c.provider_id)):
        values = _exact_row(row)
        existing.setdefault((values["provider"], values["model_key"], values["version"]), []).append(values)
    seen: dict[Key, str] = {}
    planned = []
    for index, source in enumerate(rows, start=1):
        planned.append(_plan_row(source, providers, existing, seen))
        if progress and (index % 200 == 0 or index == len(rows)):
            progress(index, len(rows))
    _check_defaults(planned, existing, {p.id: p for p in providers.values()})
    return ImportPlan(planned)


def _plan_row(source: SourceRow, providers: dict, existing: dict[Key, list[Row]], seen: dict[Key, str]) -> PlanRow:
    values = source.values
    if "__error__" in values:
        return PlanRow(source.where, None, "error", problems={"row": values["__error__"]})
    problems: dict[str, str] = {}
    unknown = [k for k in values if k not in COLUMNS and k != "id"]
    for name in unknown[:5]:
        problems[str(name)[:40]] = "is not a column of the catalogue"
    provider_name, model_key = values.get("provider"), values.get("model_key")
    for column, value in (("provider", provider_name), ("model_key", model_key)):
        if not isinstance(value, str) or not value.strip():
            problems[column] = "is required (it is part of the key)"
    version = values.get("version")
    if version is not None and not isinstance(version, str):
        problems["version"] = "must be text"
    if problems:
        return PlanRow(source.where, None, "error", problems=problems)
    key: Key = (provider_name.strip(), model_key.strip(), (version or "").strip() or None)
    plan_row = PlanRow(source.where, key, "error", display_name=str(values.get("display_name") or model_key))
    if key in seen:
        plan_row.problems["model_key"] = f"the same provider, model_key and version as {seen[key]}"
        return plan_row
    seen[key] = source.where
    provider = providers.get(key[0])
    if provider is None:
        plan_row.problems["provider"] = f"no provider is named {key[0][:60]!r}; add it on the Providers page first"
        return plan_row
    matches = existing.get(key, [])
    if len(matches) > 1:
        plan_row.problems["model_key"] = f"matches {len(matches)} models in the catalogue; tell them apart by version"
        return plan_row
    fields, raw_json = _fields(values, provider.id, plan_row.problems)
    current = matches[0] if matches else None
    if current is not None and "input_defaults" in fields and "modality" not in fields:
        fields_for_rules = {"modality": current["modality"], **fields}
    else:
        fields_for_rules = fields
    try:
        clean = validate_model_fields(fields_for_rules, partial=current is not None)
    except InvalidModel as exc:
        plan_row.problems.update(exc.problems)
    if plan_row.problems:
        return plan_row
    for name, text in raw_json.items():  # write the file's exact numbers, not the floats the rules saw
        clean[name] = loads_exact(text)
    if current is None:
        plan_row.status, plan_row.values = "new", {**_INSERT_DEFAULTS, **clean}
        plan_row.changes = field_changes({}, plan_row.values)
        plan_row.display_name = plan_row.values["display_name"]
        return plan_row
    plan_row.model_id, plan_row.display_name = current["id"], current["display_name"]
    plan_row.changes = field_changes(current, clean)
    changed = {c.path.split(".")[0] for c in plan_row.changes}
    plan_row.values = {k: v for k, v in clean.items() if k in changed}
    plan_row.status = "changed" if plan_row.changes else "unchanged"
    plan_row.current = current
    return plan_row


def _fields(
    values: dict[str, Any], provider_id: UUID, problems: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The row as model fields; JSON fields parsed (floats for the rules) with their exact text kept."""
    fields: dict[str, Any] = {"provider_id": provider_id}
    raw_json: dict[str, str] = {}
    for column in COLUMNS:
        if column == "provider" or column not in values:
            continue
        value = values[column]
        if column in JSON_FIELDS:
            if value is None:
                continue
            if isinstance(value, str):
                try:
                    value = loads_exact(value)
                except ValueError as exc:
                    problems[column] = f"is not valid JSON ({exc})"
                    continue
                except RecursionError:
                    problems[column] = "is nested too deeply"
                    continue
            try:
                raw_json[column] = dumps_exact(value)
            except (ValueError, RecursionError):
                problems[column] = "is not valid JSON (NaN, Infinity or too deep)"
                continue
            fields[column] = _as_float(value)
        else:
            fields[column] = value
    return fields, raw_json


def _check_defaults(planned: list[PlanRow], existing: dict[Key, list[Row]], providers_by_id: dict) -> None:
    """At most one default per slot after the import; a new default replaces the slot's old one (noted)."""
    final: dict[tuple[str, str], list[tuple[str, PlanRow | None]]] = {}
    touched = {r.model_id for r in planned if r.model_id}
    for rows in existing.values():
        for row in rows:
            if row["id"] not in touched and row["is_default"]:
                final.setdefault((row["modality"], row["task"]), []).append((row["display_name"], None))
    for row in planned:
        if row.status == "error":
            continue
        state = row.after
        if state.get("is_default"):
            final.setdefault((state["modality"], state["task"]), []).append((state["display_name"], row))
            provider = providers_by_id.get(state["provider_id"])
            if row.status != "unchanged" and not state.get("is_active", True):
                row.problems["is_default"] = "an inactive model cannot be the default; activate it first"
            elif row.status != "unchanged" and provider is not None and not provider.is_active:
                row.problems["is_default"] = (
                    f"its provider {provider.name} is inactive; a default must be able to take jobs"
                )
    for row in planned:
        if row.problems:
            row.status = "error"
    for (modality, task), holders in final.items():
        from_file = [r for _, r in holders if r is not None]
        if len(from_file) > 1:
            for row in from_file:
                others = ", ".join(r.where for r in from_file if r is not row)
                row.problems["is_default"] = f"{modality}/{task} can have one default; {others} also sets one"
                row.status = "error"
        elif from_file and len(holders) > 1:
            replaced = ", ".join(name for name, r in holders if r is None)
            from_file[0].notes.append(f"replaces {replaced} as the default for {modality}/{task}")


def _write(conn: sa.Connection, plan: ImportPlan, progress: Progress | None) -> None:
    writes = plan.writes
    for index, row in enumerate(writes, start=1):
        values = dict(row.values)
        if values.get("is_default"):
            state = row.after
            _refuse_inactive_default(conn, state)
            _clear_slot_default(conn, state["modality"], state["task"], keep=row.model_id)
        for name in JSON_FIELDS:
            if name in values:
                values[name] = sa.cast(sa.literal(dumps_exact(values[name]), sa.Text), JSONB)
        if row.model_id is None:
            statement = sa.insert(_m).values(**values, created_by=_CREATED_BY).returning(_m.c.id)
        else:
            statement = sa.update(_m).where(_m.c.id == row.model_id).values(**values).returning(_m.c.id)
        if conn.execute(statement).first() is None:
            raise NotAllowed("Only admins can import models")
        if progress and (index % 100 == 0 or index == len(writes)):
            progress(index, len(writes))


def describe_plan(plan: ImportPlan, *, applied: bool = False, limit: int = 200) -> str:
    """A plan in plain text: the counts, then every problem and change (the first limit rows)."""
    labels = {"new": "new", "changed": "changed", "unchanged": "unchanged", "error": "with problems"}
    counts = ", ".join(f"{plan.count(s):,} {label}" for s, label in labels.items())
    lines = [("applied: " if applied else "dry run: ") + counts]
    for row in [r for r in plan.rows if r.status != "unchanged"][:limit]:
        lines.append(f"{row.where}  {row.status:<9} {row.describe_key()}")
        lines += [f"    {field}: {problem}" for field, problem in row.problems.items()]
        if row.status == "changed":
            lines += [f"    {c.path}: {c.shown(c.before)} -> {c.shown(c.after)}" for c in row.changes]
        lines += [f"    note: {note}" for note in row.notes]
    if not applied and plan.ok and plan.writes:
        lines.append("nothing was written; run again with --apply to write it")
    # A file's keys and values reach a terminal here: an escape sequence or a \r must not hide a line.
    return "\n".join(visible(line) for line in lines)
