"""What the one-default-per-slot protocol reads: the models of some slots, and a provider, as routing rules see them."""

from collections.abc import Iterable
from uuid import UUID

import sqlalchemy as sa

from dashboard.queries.tables import RULE_COLUMNS, api_models, api_providers, models_with_providers

_RULE_SELECT = sa.select(*RULE_COLUMNS, api_models.c.provider_id).select_from(models_with_providers)

PROVIDER_RULE_STATE = sa.select(
    api_providers.c.display_name.label("provider_name"), api_providers.c.is_active.label("provider_active")
).where(api_providers.c.id == sa.bindparam("id"))


def rule_model(model_id: UUID) -> sa.Select:
    """One model with the fields a routing rule reads (and its provider_id)."""
    return _RULE_SELECT.where(api_models.c.id == model_id)


def slot_models(slots: Iterable[tuple[str, str]]) -> sa.Select:
    """Every model of these (modality, task) slots, with the fields a routing rule reads, by name then id."""
    pairs = sorted({(str(m), str(t)) for m, t in slots})
    return _RULE_SELECT.where(sa.tuple_(api_models.c.modality, api_models.c.task).in_(pairs)).order_by(
        api_models.c.display_name, api_models.c.id
    )


LOCK_SLOT = sa.text("select pg_advisory_xact_lock(hashtextextended('default:' || :modality || '/' || :task, 0))")

ROWS = sa.text("lock table api_models in row exclusive mode")

WHOLE_TABLE = sa.text("lock table api_models in share row exclusive mode")
