"""Providers: list, edit, and what deactivating one does to routing."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from dashboard.queries import providers as providers_q
from dashboard.queries.tables import RULE_COLUMNS, api_models, api_providers, models_with_providers
from dashboard.services.base import ActingService, Row, as_uuid
from dashboard.services.errors import EditConflict, InvalidModel, NotAllowed, ProviderNotFound
from dashboard.services.routing_rules import Impact, can_take_jobs, change_impact, with_name_ranks
from dashboard.services.validation import hidden_problem
from dashboard.text import first_hidden

PROVIDER_FIELDS = ("name", "display_name", "base_url", "auth_scheme", "is_active")
AUTH_SCHEMES = ("bearer", "api_key_header", "key", "basic", "none")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]{0,490}$", re.I)
_version = sa.literal_column("api_providers.xmin::text").label("row_version")


# Every model of the slots where this provider has a model, with the rule columns, in the database's order of
# (display_name, id) (see routing_rules.with_name_ranks).
_PROVIDER_SLOTS = (
    sa.select(*RULE_COLUMNS, api_models.c.provider_id)
    .select_from(models_with_providers)
    .where(
        sa.tuple_(api_models.c.modality, api_models.c.task).in_(
            sa.select(api_models.c.modality, api_models.c.task).where(api_models.c.provider_id == sa.bindparam("id"))
        )
    )
    .order_by(api_models.c.display_name, api_models.c.id)
)


def validate_provider_fields(fields: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Clean and check a provider's fields; raise InvalidModel naming every problem."""
    problems: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for name in fields:
        if name not in PROVIDER_FIELDS:
            problems[str(name)[:60]] = "is not a field that can be set"
    texts = {
        name: fields[name].strip() if isinstance(fields[name], str) else fields[name]
        for name in ("name", "display_name", "base_url", "auth_scheme")
        if name in fields
    }
    if "name" in texts:
        if not isinstance(texts["name"], str) or not _NAME.match(texts["name"]):
            problems["name"] = "use lowercase letters, digits, '.', '-' or '_' (e.g. replicate), at most 63"
        else:
            clean["name"] = texts["name"]
    if "display_name" in texts:
        value = texts["display_name"]
        if isinstance(value, str) and (hidden := first_hidden(value)):
            problems["display_name"] = hidden_problem(hidden)
        elif not isinstance(value, str) or not value or len(value) > 100:
            problems["display_name"] = "is required: 1 to 100 characters, no control characters"
        else:
            clean["display_name"] = value
    if "base_url" in texts:
        value = texts["base_url"] or None
        if value is not None and (not isinstance(value, str) or not _URL.match(value) or first_hidden(value)):
            problems["base_url"] = "must be an http:// or https:// URL, e.g. https://api.example.com/v1"
        else:
            clean["base_url"] = value
    if "auth_scheme" in texts:
        value = texts["auth_scheme"] or None
        if value is not None and value not in AUTH_SCHEMES:
            problems["auth_scheme"] = f"must be one of {', '.join(AUTH_SCHEMES)}"
        else:
            clean["auth_scheme"] = value
    if "is_active" in fields:
        if isinstance(fields["is_active"], bool):
            clean["is_active"] = fields["is_active"]
        else:
            problems["is_active"] = "must be true or false"
    if not partial:
        for name in ("name", "display_name"):
            if name not in clean and name not in problems:
                problems[name] = "is required"
    if problems:
        raise InvalidModel(problems)
    return clean


class ProviderService(ActingService):
    """Providers as one person sees them; only admins may change them (the database enforces it)."""

    def list_providers(self) -> list[Row]:
        """Every visible provider with how many models (and active models) it has."""
        return self._rows(providers_q.LIST)

    def get_provider(self, provider_id: UUID | str) -> Row:
        with self._transaction() as conn:
            row = conn.execute(
                sa.select(*api_providers.c, _version).where(api_providers.c.id == as_uuid(provider_id))
            ).first()
        if row is None:
            raise ProviderNotFound(f"No provider with id {provider_id}")
        return dict(row._mapping)

    def routing_impact(self, provider_id: UUID | str, *, active: bool = False) -> list[Impact]:
        """What setting this provider active (or, by default, inactive) would do to routing, worst first: the
        slots left with no model, defaults that end up on an inactive provider, which model each slot now
        routes to (routing_rules.change_impact over every slot where the provider has a model)."""
        provider_id = as_uuid(provider_id)
        before, after = self.routing_states(provider_id, active=active)
        leaving = sum(can_take_jobs(m) for m in before if m["provider_id"] == provider_id)
        whole = [Impact("info", "", f"{leaving} active model(s) leave routing")] if leaving and not active else []
        return change_impact(before, after) + whole

    def routing_states(self, provider_id: UUID | str, *, active: bool = False) -> tuple[list[Row], list[Row]]:
        """Every model of every slot where the provider has a model, as they are and once the provider is set
        active (or, by default, inactive)."""
        provider_id = as_uuid(provider_id)
        with self._transaction() as conn:
            before = with_name_ranks(dict(r._mapping) for r in conn.execute(_PROVIDER_SLOTS, {"id": provider_id}))
        return before, [{**m, "provider_active": active} if m["provider_id"] == provider_id else m for m in before]

    def create_provider(self, fields: Mapping[str, Any]) -> Row:
        values = {"is_active": True, **validate_provider_fields(fields)}
        with self._transaction() as conn:
            self._refuse_duplicate_name(conn, values["name"], None)
            row = conn.execute(sa.insert(api_providers).values(**values).returning(*api_providers.c, _version)).one()
        return dict(row._mapping)

    def update_provider(
        self, provider_id: UUID | str, changes: Mapping[str, Any], *, expected_version: str | None = None
    ) -> Row:
        provider_id = as_uuid(provider_id)
        values = validate_provider_fields(changes, partial=True)
        with self._transaction() as conn:
            current = conn.execute(
                sa.select(*api_providers.c, _version).where(api_providers.c.id == provider_id).with_for_update()
            ).first()
            if current is None:
                if conn.execute(sa.select(api_providers.c.id).where(api_providers.c.id == provider_id)).first():
                    raise NotAllowed("Only admins can change providers")
                raise ProviderNotFound(f"No provider with id {provider_id}; it may have been deleted")
            if expected_version is not None and current.row_version != expected_version:
                raise EditConflict(f"{current.display_name} was changed by someone else since you opened it")
            if "name" in values:
                self._refuse_duplicate_name(conn, values["name"], provider_id)
            if not values:
                return dict(current._mapping)
            row = conn.execute(
                sa.update(api_providers)
                .where(api_providers.c.id == provider_id)
                .values(**values)
                .returning(*api_providers.c, _version)
            ).one()
        return dict(row._mapping)

    @staticmethod
    def _refuse_duplicate_name(conn: sa.Connection, name: str, own_id: UUID | None) -> None:
        clash = conn.execute(sa.select(api_providers.c.id).where(api_providers.c.name == name)).scalar()
        if clash is not None and clash != own_id:
            raise InvalidModel({"name": f"another provider is already called {name}"})
