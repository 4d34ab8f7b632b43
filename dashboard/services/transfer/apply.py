"""Export and import as one person: the export's rows, the dry run, and applying it in one transaction.

apply() runs the same plan again inside one transaction, holding off every other writer (the lock order of
services/default_slot.py), and writes everything or nothing; if the catalogue changed since the dry run, it
refuses. Each default it writes goes through the one-default-per-slot protocol.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

from dashboard.queries import transfer as qt
from dashboard.queries.tables import api_models
from dashboard.services.base import ActingService, Row
from dashboard.services.default_slot import explain_zero_rows, lock_for_writing, take_default
from dashboard.services.errors import EditConflict, InvalidModel
from dashboard.services.models import CREATED_BY
from dashboard.services.traffic_reads import TrafficService
from dashboard.services.transfer.formats import dumps_exact, exact_row, read_file
from dashboard.services.transfer.plan import ImportPlan, Progress, plan_rows
from dashboard.services.validation import JSON_FIELDS

_m = api_models


class TransferService(ActingService):
    """Export and import as one person: RLS decides what they see and may write."""

    def export_rows(
        self,
        *,
        modality: str | None = None,
        task: str | None = None,
        provider: str | None = None,
        active_only: bool = False,
    ) -> list[Row]:
        """Every visible model (optionally filtered), with its provider's name and exact JSON fields."""
        statement = qt.export_filtered(modality=modality, task=task, provider=provider, active_only=active_only)
        with self._transaction() as conn:
            return [exact_row(r) for r in conn.execute(statement)]

    def plan(self, data: bytes, name: str = "", *, progress: Progress | None = None) -> ImportPlan:
        """The dry run: nothing is written."""
        rows = read_file(data, name)
        with self._transaction() as conn:
            plan = plan_rows(conn, rows, progress)
        if plan.ok and plan.writes:
            plan.traffic = TrafficService(self.engine, user_id=self.user_id).estimate(*plan.states)
        return plan

    def apply(
        self, data: bytes, name: str = "", *, expected: str | None = None, progress: Progress | None = None
    ) -> ImportPlan:
        """Plan again and write it in one transaction: everything or nothing.

        expected is the dry run's fingerprint: if the plan now differs (someone changed the catalogue
        in between), nothing is written and EditConflict says to look again.
        """
        rows = read_file(data, name)
        with self._transaction() as conn:
            lock_for_writing(conn, whole_table=True)  # the one lock order: services/default_slot.py
            plan = plan_rows(conn, rows)
            if not plan.ok:
                raise InvalidModel(
                    {
                        r.where: "; ".join(f"{k}: {v}" for k, v in r.problems.items())
                        for r in plan.rows
                        if r.status == "error"
                    }
                )
            if expected is not None and plan.fingerprint() != expected:
                raise EditConflict("The catalogue changed since the dry run; run the dry run again and check it")
            write_plan(conn, plan, progress)
        return plan


def write_plan(conn: Connection, plan: ImportPlan, progress: Progress | None = None) -> None:
    """Write a checked plan's new and changed rows, JSON fields from their exact text."""
    writes = plan.writes
    for index, row in enumerate(writes, start=1):
        values = dict(row.values)
        if values.get("is_default"):
            take_default(conn, row.after, keep=row.model_id)
        for name in JSON_FIELDS:
            if name in values:
                values[name] = sa.cast(sa.literal(dumps_exact(values[name]), sa.Text), JSONB)
        if row.model_id is None:
            statement = sa.insert(_m).values(**values, created_by=CREATED_BY).returning(_m.c.id)
        else:
            statement = sa.update(_m).where(_m.c.id == row.model_id).values(**values).returning(_m.c.id)
        if conn.execute(statement).first() is None:
            raise explain_zero_rows(conn, row.model_id, doing="import models")
        if progress and (index % 100 == 0 or index == len(writes)):
            progress(index, len(writes))
