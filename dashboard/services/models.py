"""ModelService: the api_models catalogue as one person sees it. Every call runs as them, under RLS."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dashboard.queries import models as q
from dashboard.queries.tables import api_models, row_version
from dashboard.services.base import ActingService, Row, as_uuid, sqlstate
from dashboard.services.default_slot import (
    clear_slot_default,
    explain_zero_rows,
    lock_for_writing,
    review_write,
    take_default,
)
from dashboard.services.errors import EditConflict, ModelInUse, ModelNotFound
from dashboard.services.routing_rules import Impact
from dashboard.services.usage import UsageRange, UsageService
from dashboard.services.validation import validate_model_fields

_RETURNING = (*api_models.c, row_version)
# The profile of the person acting, or NULL when they have none (created_by is a foreign key).
CREATED_BY = sa.literal_column("(select p.id from profiles p where p.id = auth.uid())")
INSERT_DEFAULTS = {
    "input_defaults": {},
    "capabilities": {},
    "pricing": {},
    "is_active": True,
    "is_default": False,
    "priority": 0,
}


@dataclass(frozen=True)
class Saved:
    """A model as written, and the default it took over from another model of its slot (if it did)."""

    model: Row
    replaced: Row | None = None

    def describe(self, verb: str) -> str:
        """What was done, for the person: "<verb> <name>.", naming the model whose default it took, if any."""
        text = f"{verb} {self.model['display_name']}."
        if self.replaced:
            slot = f"{self.model['modality']}/{self.model['task']}"
            text += f" It replaced {self.replaced['display_name']} as the default for {slot}."
        return text


class ModelService(ActingService):
    """Read, route and manage models as one person (see ActingService for user_id)."""

    # ─── The seed's common queries ──────────────────────────────────────────────────────────
    def is_admin(self) -> bool:
        """Whether the database says this person is an admin, now."""
        with self._transaction() as conn:
            return bool(conn.execute(q.IS_ADMIN).scalar())

    def list_active_models(self) -> list[Row]:
        """Active models of active providers, with provider names, by priority then name."""
        return self._rows(q.ACTIVE_MODELS)

    def list_models_for_task(self, *, modality: str, task: str) -> list[Row]:
        """Active models for one modality and task, by priority then name."""
        return self._rows(q.MODELS_FOR_TASK, modality=modality, task=task)

    def list_default_models(self) -> list[Row]:
        """The active default model of each modality and task, with its provider name."""
        return self._rows(q.DEFAULT_MODELS)

    def list_models_by_provider(self, provider_id: UUID | str) -> list[Row]:
        """A provider's active models, by priority then name."""
        return self._rows(q.MODELS_BY_PROVIDER, provider_id=as_uuid(provider_id, "provider_id"))

    def usage_stats(self, period: UsageRange | None = None) -> pd.DataFrame:
        """The seed's usage query: jobs per active model (total, completed, failed, average rating).

        Exactly its result at this moment, read from rollups kept by trigger instead of counting
        every job; period (a UsageRange) limits it to jobs created in that range.
        """
        return UsageService(self.engine, user_id=self.user_id).seed_stats(period or UsageRange())

    def routing_candidates(self, *, modality: str, task: str) -> list[Row]:
        """What job routing would choose from for a modality and task, best first."""
        return self._rows(q.ROUTING_SELECTION, modality=modality, task=task)

    def select_model(self, *, modality: str, task: str) -> Row | None:
        """The model a job for this modality and task is routed to, or None when there is none."""
        candidates = self.routing_candidates(modality=modality, task=task)
        return candidates[0] if candidates else None

    # ─── One model ──────────────────────────────────────────────────────────────────────────
    def get_model(self, model_id: UUID | str) -> Row:
        """One model with its row_version (the token to pass back when saving an edit)."""
        with self._transaction() as conn:
            row = conn.execute(sa.select(*_RETURNING).where(api_models.c.id == as_uuid(model_id))).first()
        if row is None:
            raise ModelNotFound(f"No model with id {model_id} is visible to you")
        return dict(row._mapping)

    # ─── Management (admins only: the database refuses everyone else) ──────────────────────
    def review_change(self, changes: Mapping[str, Any], *, model_id: UUID | str | None = None) -> list[Impact]:
        """What writing changes to model_id (or adding a model, with no model_id or a deleted one's) does to
        routing, worst first: nothing is written."""
        with self._transaction() as conn:
            return review_write(conn, changes, model_id=as_uuid(model_id) if model_id is not None else None)

    def create_model(self, fields: Mapping[str, Any], *, model_id: UUID | None = None) -> Row:
        """Add a model; if it is created as default it replaces the slot's current default.

        model_id gives it a chosen id (restoring a deleted model keeps its id, and so its history).
        """
        return self.create(fields, model_id=model_id).model

    def create(self, fields: Mapping[str, Any], *, model_id: UUID | None = None) -> Saved:
        """create_model, also saying which default the new model replaced."""
        values = {**INSERT_DEFAULTS, **validate_model_fields(fields)}
        if model_id is not None:
            values["id"] = as_uuid(model_id)
        with self._transaction() as conn:
            replaced = None
            if values["is_default"]:
                lock_for_writing(conn, [(values["modality"], values["task"])])
                replaced = take_default(conn, values, keep=None)
            row = conn.execute(
                sa.insert(api_models).values(**values, created_by=CREATED_BY).returning(*_RETURNING)
            ).one()
        return Saved(dict(row._mapping), replaced)

    def update_model(
        self, model_id: UUID | str, changes: Mapping[str, Any], *, expected_version: str | None = None
    ) -> Row:
        """Change some fields; with expected_version, refuse if someone saved in between."""
        return self.update(model_id, changes, expected_version=expected_version).model

    def update(self, model_id: UUID | str, changes: Mapping[str, Any], *, expected_version: str | None = None) -> Saved:
        """update_model, also saying which default the model took over, if it did."""
        model_id = as_uuid(model_id)
        with self._transaction() as conn:
            current = self._lock_for_write(conn, model_id, expected_version, changes=changes)
            values = validate_model_fields(
                {"modality": current["modality"], **changes} if "input_defaults" in changes else changes,
                partial=True,
            )
            values = {k: v for k, v in values.items() if k in changes}
            after = {**current, **values}
            replaced = None
            if after["is_default"] and not current["is_default"]:
                replaced = take_default(conn, after, keep=model_id)
            elif after["is_default"]:  # already the default (maybe moving slot): only the slot's other one goes
                replaced = clear_slot_default(conn, after["modality"], after["task"], keep=model_id)
            if not values:
                return Saved(current, replaced)
            statement = sa.update(api_models).where(api_models.c.id == model_id).values(**values)
            row = conn.execute(statement.returning(*_RETURNING)).one()
        return Saved(dict(row._mapping), replaced)

    def set_active(self, model_id: UUID | str, active: bool, *, expected_version: str | None = None) -> Row:
        """Activate or deactivate a model (an inactive model is never routed to)."""
        return self.update_model(model_id, {"is_active": active}, expected_version=expected_version)

    def set_default(self, model_id: UUID | str) -> Row | None:
        """Make a model the default of its modality and task; return the default it replaced, if any."""
        model_id = as_uuid(model_id)
        with self._transaction() as conn:
            current = self._lock_for_write(conn, model_id, None)
            replaced = take_default(conn, current, keep=model_id)
            conn.execute(sa.update(api_models).where(api_models.c.id == model_id).values(is_default=True))
        return replaced

    def jobs_referencing(self, model_id: UUID | str) -> int:
        """How many jobs reference a model (as this person may see them): while any do, it cannot be deleted."""
        with self._transaction() as conn:
            return conn.execute(q.COUNT_JOBS_FOR_MODEL, {"id": as_uuid(model_id)}).scalar_one()

    def check_deletable(self, model_id: UUID | str) -> None:
        """ModelInUse when jobs reference the model, so a person is told before being asked to confirm a delete
        (delete_model checks again: a job may arrive in between)."""
        jobs = self.jobs_referencing(model_id)
        if jobs:
            raise ModelInUse(jobs)

    def delete_model(self, model_id: UUID | str, *, expected_version: str | None = None) -> None:
        """Delete a model; refused with ModelInUse while jobs reference it."""
        model_id = as_uuid(model_id)
        with self._transaction() as conn:
            self._lock_for_write(conn, model_id, expected_version)
            try:
                with conn.begin_nested():
                    conn.execute(sa.delete(api_models).where(api_models.c.id == model_id))
            except sa.exc.IntegrityError as exc:
                if sqlstate(exc) != "23503":
                    raise
                raise ModelInUse(conn.execute(q.COUNT_JOBS_FOR_MODEL, {"id": model_id}).scalar_one()) from None

    def _lock_for_write(
        self,
        conn: Connection,
        model_id: UUID,
        expected_version: str | None,
        *,
        changes: Mapping[str, Any] | None = None,
    ) -> Row:
        """Lock the table, the default slots the write may touch, then the row; or explain why it cannot be written."""
        peek = conn.execute(
            sa.select(api_models.c.modality, api_models.c.task).where(api_models.c.id == model_id)
        ).first()
        slots = set()
        if peek is not None:
            slots.add((peek.modality, peek.task))
            if changes:
                slots.add((str(changes.get("modality", peek.modality)), str(changes.get("task", peek.task))))
        lock_for_writing(conn, slots)  # the one lock order: services/default_slot.py
        row = conn.execute(sa.select(*_RETURNING).where(api_models.c.id == model_id).with_for_update()).first()
        if row is None:
            # FOR UPDATE returns only rows the UPDATE policy allows: look again to say why.
            raise explain_zero_rows(conn, model_id)
        current = dict(row._mapping)
        if (expected_version is not None and current["row_version"] != expected_version) or (
            (current["modality"], current["task"]) not in slots
        ):
            raise EditConflict(
                f"{current['display_name']} was changed by someone else since you opened it; "
                "review the current values and apply your edit again"
            )
        return current
