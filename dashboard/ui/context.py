"""The run's context: the engine (one per process), the signed-in person, and their services."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from sqlalchemy.engine import Engine

from dashboard.config import Settings
from dashboard.database import check_connection, create_db_engine
from dashboard.services import ModelService
from dashboard.services.audit import AuditService
from dashboard.services.auth import Identity
from dashboard.services.bulk import BulkService
from dashboard.services.catalogue import CatalogueService, DataVersion
from dashboard.services.providers import ProviderService
from dashboard.services.routing import RoutingService
from dashboard.services.transfer import TransferService
from dashboard.services.usage import UsageService

_CONTEXT_KEY = "_dashboard_context"
CacheVersion = tuple[int, bool, bool]  # the data version (writes, settled) and whether the person is an admin


def load_settings() -> Settings:
    """Settings from the environment, with st.secrets' top-level values taking precedence."""
    env = dict(os.environ)
    try:
        env.update({k: str(v) for k, v in st.secrets.items() if isinstance(v, str | int | float)})
    except (FileNotFoundError, st.errors.StreamlitSecretNotFoundError):  # no secrets file: fine
        pass
    return Settings.from_env(env)


@st.cache_resource(show_spinner="Connecting to the database…")
def get_engine(database_url: str | None, data_dir: str) -> Engine:
    """One pooled engine per process; a failed first connection is not cached."""
    settings = Settings(database_url=database_url, data_dir=Path(data_dir))
    engine = create_db_engine(database_url, settings=settings)
    try:
        check_connection(engine)
    except Exception:
        engine.dispose()
        raise
    return engine


@dataclass(frozen=True)
class Context:
    """What a page needs: the engine, who is signed in, and the catalogue's data version this run."""

    engine: Engine
    identity: Identity
    data_version: DataVersion
    settings: Settings

    @property
    def user_key(self) -> str:
        return str(self.identity.user_id)

    @property
    def cache_version(self) -> CacheVersion:
        """What cached reads are fresh for: the catalogue's data version and the person's role as the database
        answered it this click, so a role granted or revoked meanwhile reads afresh, not what the old role saw."""
        return *self.data_version, self.identity.is_admin

    @property
    def models(self) -> ModelService:
        return ModelService(self.engine, user_id=self.identity.user_id)

    @property
    def catalogue(self) -> CatalogueService:
        return CatalogueService(self.engine, user_id=self.identity.user_id)

    @property
    def providers(self) -> ProviderService:
        return ProviderService(self.engine, user_id=self.identity.user_id)

    @property
    def audit(self) -> AuditService:
        return AuditService(self.engine, user_id=self.identity.user_id)

    @property
    def transfer(self) -> TransferService:
        return TransferService(self.engine, user_id=self.identity.user_id)

    @property
    def routing(self) -> RoutingService:
        return RoutingService(self.engine, user_id=self.identity.user_id)

    @property
    def bulk(self) -> BulkService:
        return BulkService(self.engine, user_id=self.identity.user_id)

    @property
    def usage(self) -> UsageService:
        """Usage reads go to the read replica when DATABASE_READ_URL names one; folding stays on the primary."""
        return UsageService(self.engine, user_id=self.identity.user_id, read_db=usage_read_engine(self.settings))


def usage_read_engine(settings: Settings) -> Engine | None:
    """The read replica's engine when DATABASE_READ_URL names one (usage reads go there), else None: the primary."""
    replica = settings.read_database_url
    return get_engine(replica, str(settings.data_dir)) if replica else None


def set_context(context: Context) -> None:
    st.session_state[_CONTEXT_KEY] = context


def context() -> Context:
    """This run's context (set by the entrypoint before any page runs)."""
    return st.session_state[_CONTEXT_KEY]


def require_admin() -> None:
    """Stop an admin page for anyone the database does not (or no longer) call an admin.

    The navigation already hides these pages; this is the second lock, and RLS is the third.
    """
    if not context().identity.is_admin:
        st.error("Only admins can use this page. If you were an admin a moment ago, your role was changed.")
        st.stop()
