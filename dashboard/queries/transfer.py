"""The export of the catalogue (also what an import compares its file with): one row per model, keyed by
provider name, model_key and version, with the JSONB fields as PostgreSQL prints them (parsed exactly later)."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from dashboard.queries.tables import api_models, api_providers, models_with_providers

_m, _p = api_models, api_providers
JSON_COLUMNS = tuple(c.name for c in _m.c if isinstance(c.type, JSONB))  # exported as text, parsed exactly

EXPORT = (
    sa.select(
        _p.c.name.label("provider"),
        _m.c.model_key,
        _m.c.version,
        _m.c.display_name,
        _m.c.modality,
        _m.c.task,
        _m.c.model_family,
        _m.c.endpoint_path,
        *(sa.cast(_m.c[name], sa.Text).label(name) for name in JSON_COLUMNS),
        _m.c.output_format,
        _m.c.is_active,
        _m.c.is_default,
        _m.c.priority,
        _m.c.id,
    )
    .select_from(models_with_providers)
    .order_by(_p.c.name, _m.c.model_key, _m.c.version, _m.c.id)
)

# What an import plans against: every model as exported, with its provider's id (to write it back).
IMPORT_BASE = EXPORT.add_columns(_m.c.provider_id)

PROVIDERS = sa.select(_p.c.id, _p.c.name, _p.c.display_name, _p.c.is_active)


def export_filtered(
    *, modality: str | None = None, task: str | None = None, provider: str | None = None, active_only: bool = False
) -> sa.Select:
    """EXPORT limited to one modality, task or provider (by name), or to active models."""
    statement = EXPORT
    for column, value in ((_m.c.modality, modality), (_m.c.task, task), (_p.c.name, provider)):
        if value:
            statement = statement.where(column == value)
    if active_only:
        statement = statement.where(_m.c.is_active.is_(True))
    return statement
