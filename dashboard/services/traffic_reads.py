"""What services/traffic.py needs from the database: each touched model's jobs over the last 7 days (one read of
the usage rollups, for a list of models) and its cost per job; and the states of the slots a change touches, for
the reviews whose services give only their impacts (a default, a provider switched off, one model written)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from dashboard.queries.tables import api_models
from dashboard.services import traffic
from dashboard.services.base import ActingService, as_uuid
from dashboard.services.default_slot import write_states
from dashboard.services.routing_rules import Model
from dashboard.services.spend import CostBasis, cost_basis
from dashboard.services.usage import UsageRange, UsageService

NOT_ADMIN = "traffic figures are for admins: only they can read the usage counts they come from"
_COSTING = sa.select(api_models.c.id, api_models.c.pricing, api_models.c.input_defaults).where(
    api_models.c.id == sa.any_(sa.bindparam("ids", type_=sa.ARRAY(sa.Uuid)))
)


class TrafficService(ActingService):
    """The traffic a routing change would move, as one person may see it (admins: figures; others: a note)."""

    def estimate(
        self, before: Iterable[Model], after: Iterable[Model], *, now: datetime | None = None
    ) -> traffic.Traffic:
        """traffic.estimate over the last 7 days' jobs of these models (the touched slots' models as they are and
        as they would be). An after model that carries pricing (an import) is costed by it after the change."""
        before, after = list(before), list(after)
        start, end = traffic.window(now)
        ids = sorted({str(m["id"]) for m in [*before, *after] if _is_id(m["id"])})
        found = UsageService(self.engine, user_id=self.user_id).counts_of(UsageRange(start, end), ids)
        if found is None:
            return traffic.Traffic(note=NOT_ADMIN)
        counts = {model_id: traffic.Counts(*row) for model_id, row in found.items()}
        costs = self._costs(ids)
        repriced = {str(m["id"]): cost_basis(m["pricing"], m.get("input_defaults")) for m in after if "pricing" in m}
        return traffic.estimate(before, after, counts, costs, costs_after={**costs, **repriced}, start=start, end=end)

    def of_default(self, model_id: UUID | str, *, now: datetime | None = None) -> traffic.Traffic:
        """Making this model its slot's default (the states CatalogueService.default_impact compares)."""
        from dashboard.services.catalogue import CatalogueService  # here: catalogue imports transfer, which imports us

        before, after = CatalogueService(self.engine, user_id=self.user_id).default_states(model_id)
        return self.estimate(before, after, now=now)

    def of_provider(
        self, provider_id: UUID | str, *, active: bool = False, now: datetime | None = None
    ) -> traffic.Traffic:
        """Setting a provider inactive (or active): every slot where it has a model (ProviderService.routing_impact)."""
        from dashboard.services.providers import ProviderService  # here, as CatalogueService above

        service = ProviderService(self.engine, user_id=self.user_id)
        before, after = service.routing_states(provider_id, active=active)
        return self.estimate(before, after, now=now)

    def of_write(
        self, changes: Mapping[str, Any], *, model_id: UUID | str | None, now: datetime | None = None
    ) -> traffic.Traffic:
        """Writing changes (any fields; those routing reads count) to model_id, or adding a model (None, or a
        deleted model's id: a restore), as default_slot.review_write sees it."""
        model_id = as_uuid(model_id) if model_id is not None else None
        with self._transaction() as conn:
            before, after = write_states(conn, changes, model_id=model_id)
        return self.estimate(before, after, now=now)

    def _costs(self, ids: list[str]) -> dict[str, CostBasis]:
        if not ids:
            return {}
        with self._transaction() as conn:
            rows = conn.execute(_COSTING, {"ids": [UUID(i) for i in ids]}).all()
        return {str(r.id): cost_basis(r.pricing, r.input_defaults) for r in rows}


def _is_id(value: Any) -> bool:
    """A model's id in the database (an import's new rows are known by their place in the file instead)."""
    try:
        UUID(str(value))
    except ValueError:
        return False
    return True
