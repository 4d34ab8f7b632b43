"""SQLAlchemy Core descriptions of the tables we read and write (never used to create them: migrations do)."""

from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

metadata = sa.MetaData()
_DB = sa.FetchedValue()  # the database fills it in (defaults and triggers)
# Every update we make moves updated_at itself: a live platform's tables have no trigger of ours to do it.
# clock_timestamp(), not now(): two updates in one transaction still give two instants.
_NOW = sa.func.clock_timestamp()

api_providers = sa.Table(
    "api_providers",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=_DB),
    sa.Column("name", sa.Text),
    sa.Column("display_name", sa.Text),
    sa.Column("base_url", sa.Text),
    sa.Column("auth_scheme", sa.Text),
    sa.Column("is_active", sa.Boolean),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=_DB),
    sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_DB, onupdate=_NOW),
)

api_models = sa.Table(
    "api_models",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=_DB),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=_DB),
    sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_DB, onupdate=_NOW),
    sa.Column("created_by", UUID(as_uuid=True)),
    sa.Column("provider_id", UUID(as_uuid=True)),
    sa.Column("model_key", sa.Text),
    sa.Column("version", sa.Text),
    sa.Column("display_name", sa.Text),
    sa.Column("modality", sa.Text),
    sa.Column("task", sa.Text),
    sa.Column("model_family", sa.Text),
    sa.Column("endpoint_path", sa.Text),
    sa.Column("input_defaults", JSONB),
    sa.Column("capabilities", JSONB),
    sa.Column("pricing", JSONB),
    sa.Column("output_format", sa.Text),
    sa.Column("is_active", sa.Boolean),
    sa.Column("is_default", sa.Boolean),
    sa.Column("priority", sa.Integer),
)

# Models with their providers: every read that shows a model's provider (or whether it can take jobs)
# selects from this join, so the join is spelled once.
models_with_providers = api_models.join(api_providers, api_models.c.provider_id == api_providers.c.id)

# The fields a routing rule reads (dashboard.services.routing_rules): select them with the model's slot.
RULE_COLUMNS = (
    api_models.c.id,
    api_models.c.display_name,
    api_models.c.modality,
    api_models.c.task,
    api_models.c.priority,
    api_models.c.is_default,
    api_models.c.is_active,
    api_providers.c.display_name.label("provider_name"),
    api_providers.c.is_active.label("provider_active"),
)

# The seed's routing order (ORDER BY am.priority, am.is_default DESC), then name and id so that the same
# catalogue always routes the same way: every query that lists models "as routing" orders by this.
ROUTING_ORDER = (api_models.c.priority, api_models.c.is_default.desc(), api_models.c.display_name, api_models.c.id)

# PostgreSQL's row version: changes on every update, so it is the compare-and-swap token for edits.
row_version = sa.literal_column("api_models.xmin::text").label("row_version")

# The platform's jobs (read for usage; the dashboard never writes them).
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=_DB),
    sa.Column("user_id", UUID(as_uuid=True)),
    sa.Column("api_model_id", UUID(as_uuid=True)),
    sa.Column("status", sa.Text),
    sa.Column("quality_rating", sa.SmallInteger),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=_DB),
)

# The audit trail (migration 0006): written by the database's trigger, read by services.audit.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True)),
    sa.Column("table_name", sa.Text),
    sa.Column("row_id", UUID(as_uuid=True)),
    sa.Column("action", sa.Text),
    sa.Column("actor_id", UUID(as_uuid=True)),
    sa.Column("actor_email", sa.Text),
    sa.Column("db_role", sa.Text),
    sa.Column("application", sa.Text),
    sa.Column("old_row", JSONB),
    sa.Column("new_row", JSONB),
    schema="dashboard",
)


def id_array(ids: Collection[str], name: str) -> sa.ColumnElement:
    """Ids (as text, as the database gave them) as a uuid[], sent as one text parameter named name: a list
    parameter of 10,000 costs 2-3x more."""
    text = sa.bindparam(name, ",".join(ids), type_=sa.Text)
    return sa.cast(sa.func.string_to_array(text, ","), ARRAY(UUID(as_uuid=True)))


def one_of(ids: Collection[str]) -> sa.ColumnElement[bool]:
    """The models whose id is one of these (ids as text): one index probe each, so the catalogue's per-row policy is
    checked on these rows only."""
    return api_models.c.id == sa.any_(id_array(sorted(ids), "one_of"))
