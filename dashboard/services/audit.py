"""The audit trail: who changed which model or provider, when, field by field; and restoring a version.

Migration 0006 records every write by trigger, whatever made it. Only admins read it (RLS); a restore
is an ordinary write, so it is audited like any other, and its entry says which entry it restored: the trigger
records application_name with every write, and a restore sets it, for its own transaction only, to
"restored from entry N via <the tool's name>" (no schema change; a SQL session can set the same words, so it
is a label, not proof).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from dashboard.queries.tables import audit_log
from dashboard.services.base import ActingService, Row
from dashboard.services.diff import Change, json_changes
from dashboard.services.errors import ModelNotFound, NothingToRestore
from dashboard.services.models import ModelService, Saved
from dashboard.services.routing_rules import Impact
from dashboard.services.validation import EDITABLE_FIELDS

TABLES = {"api_models": "Models", "api_providers": "Providers"}
_UNTRACKED = ("updated_at",)  # moves on every write by trigger: not a change anyone made
MAX_PAGE = 500
MAX_EXPORT = 10_000
_RESTORED_FROM = re.compile(r"restored from entry (\d+)(?: via |$)")

_a = audit_log.c


@dataclass(frozen=True)
class AuditFilters:
    """Which entries to show; every field optional."""

    table_name: str | None = None
    row_id: UUID | None = None
    actor_id: UUID | None = None
    start: datetime | None = None
    end: datetime | None = None  # exclusive


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    table_name: str
    row_id: UUID
    action: str
    actor_id: UUID | None
    actor_email: str | None
    db_role: str
    application: str | None
    old_row: dict[str, Any] | None
    new_row: dict[str, Any] | None

    @property
    def name(self) -> str:
        row = self.new_row or self.old_row or {}
        return str(row.get("display_name") or row.get("name") or self.row_id)

    @property
    def who(self) -> str:
        """The person, or the database role when no one was signed in (SQL, Studio, a worker)."""
        if self.actor_email:
            return self.actor_email
        return f"{self.db_role}" + (f" ({self.application})" if self.application else "")

    @property
    def changes(self) -> list[Change]:
        return row_changes(self.old_row, self.new_row)

    @property
    def restored_from(self) -> int | None:
        """The entry whose earlier version this write put back, when it was a restore; None otherwise."""
        match = _RESTORED_FROM.match(self.application or "")
        return int(match.group(1)) if match else None


def row_changes(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[Change]:
    """Every column that differs, JSON objects key by key; an insert or delete shows every column."""
    old, new = old or {}, new or {}
    changes: list[Change] = []
    for column in [c for c in (new or old) if c not in _UNTRACKED] + [c for c in old if c not in new]:
        a, b = old.get(column), new.get(column)
        if isinstance(a, dict) and isinstance(b, dict):
            changes.extend(json_changes(column, a, b))
        elif a != b or type(a) is not type(b):
            changes.append(Change(column, a, b))
    return changes


class AuditService(ActingService):
    """The audit trail as one person may read it (RLS: admins only; anyone else reads nothing)."""

    def history(
        self, filters: AuditFilters = AuditFilters(), *, limit: int = 100, offset: int = 0, cap: int = MAX_PAGE
    ) -> tuple[list[AuditEntry], int]:
        """One page of entries (at most cap), newest first, and how many match in all."""
        conditions = []
        if filters.table_name:
            conditions.append(_a.table_name == filters.table_name)
        if filters.row_id:
            conditions.append(_a.row_id == filters.row_id)
        if filters.actor_id:
            conditions.append(_a.actor_id == filters.actor_id)
        if filters.start:
            conditions.append(_a.at >= filters.start)
        if filters.end:
            conditions.append(_a.at < filters.end)
        base = sa.select(*audit_log.c).where(*conditions)
        with self._transaction() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(base.subquery())).scalar_one()
            page = base.order_by(_a.at.desc(), _a.id.desc()).limit(max(1, min(limit, cap))).offset(max(0, offset))
            rows = conn.execute(page).all()
        return [AuditEntry(**r._mapping) for r in rows], total

    def export_entries(self, filters: AuditFilters = AuditFilters()) -> list[AuditEntry]:
        """Every matching entry for a CSV, newest first (at most MAX_EXPORT)."""
        return self.history(filters, limit=MAX_EXPORT, cap=MAX_EXPORT)[0]

    def actors(self) -> list[Row]:
        """Everyone who appears in the trail (for a filter), by email."""
        statement = (
            sa.select(_a.actor_id, sa.func.max(_a.actor_email).label("email"))
            .where(_a.actor_id.is_not(None))
            .group_by(_a.actor_id)
            .order_by(sa.func.max(_a.actor_email))
        )
        return self._rows(statement)

    def entry(self, entry_id: int) -> AuditEntry:
        with self._transaction() as conn:
            row = conn.execute(sa.select(*audit_log.c).where(_a.id == entry_id)).first()
        if row is None:
            raise NothingToRestore(f"No audit entry {entry_id} is visible to you")
        return AuditEntry(**row._mapping)

    def review_restore(self, entry_id: int) -> list[Impact]:
        """What restoring this entry's earlier version would do to routing, worst first (nothing is written):
        a restore that takes its slot's default from another model says so, naming it."""
        entry, target, current = self._restore_target(entry_id)
        changes = target if current is None else _restore_changes(current, target)
        return ModelService(self.engine, user_id=self.user_id).review_change(changes, model_id=entry.row_id)

    def restore_model(self, entry_id: int) -> Row:
        """Put a model back as it was before this entry's change (or bring a deleted model back)."""
        return self.restore(entry_id).model

    def restore(self, entry_id: int) -> Saved:
        """restore_model, also saying which default the restored model took back (Saved.describe("Restored")).

        It is an ordinary write through ModelService (validated, one default per slot, RLS), so the
        restore itself is audited, with restored_from naming this entry.
        """
        entry, target, current = self._restore_target(entry_id)
        models = _RestoringModels(self.engine, user_id=self.user_id, entry_id=entry.id)
        if current is None:
            return models.create(target, model_id=entry.row_id)
        changed = _restore_changes(current, target)
        return models.update(entry.row_id, changed, expected_version=current["row_version"])

    def _restore_target(self, entry_id: int) -> tuple[AuditEntry, Row, Row | None]:
        """The entry, the model's fields as they were before it, and the model now (None once deleted)."""
        entry = self.entry(entry_id)
        if entry.table_name != "api_models" or entry.old_row is None:
            raise NothingToRestore("This entry has no earlier version of a model to go back to")
        target = {f: entry.old_row.get(f) for f in EDITABLE_FIELDS}
        try:
            current = ModelService(self.engine, user_id=self.user_id).get_model(entry.row_id)
        except ModelNotFound:
            current = None
        return entry, target, current


class _RestoringModels(ModelService):
    """ModelService whose writes are marked as a restore of one entry, in application_name (see the module)."""

    def __init__(self, engine: Engine, *, user_id: Any, entry_id: int):
        super().__init__(engine, user_id=user_id)
        self.mark = f"restored from entry {int(entry_id)}"

    @contextmanager
    def _transaction(self, engine: Engine | None = None) -> Iterator[Connection]:
        with super()._transaction(engine) as conn:
            # is_local: the pooled connection keeps its own name after this transaction, so no later write
            # is taken for a restore. concat_ws leaves the tool's name out when there is none.
            tool = sa.func.nullif(sa.func.current_setting("application_name"), "")
            name = sa.func.concat_ws(" via ", self.mark, tool)
            conn.execute(sa.select(sa.func.set_config("application_name", name, True)))
            yield conn


def _restore_changes(current: Row, target: Row) -> Row:
    """The fields a restore writes; NothingToRestore when the model is already as it was."""
    changed = {f: v for f, v in target.items() if _differs(current.get(f), v)}
    if not changed:
        raise NothingToRestore(f"{current['display_name']} is already as it was before this change")
    return changed


def _differs(current: Any, target: Any) -> bool:
    if isinstance(current, UUID) or isinstance(target, UUID):
        return str(current) != str(target)
    return current != target or type(current) is not type(target)
