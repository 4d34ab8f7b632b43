"""Cached reads, keyed by who is asking and the catalogue's data version.

The person's id in the key keeps one person's rows from ever reaching another (RLS shows each a
different catalogue). The data version (dashboard.catalogue_writes, bumped by triggers on every write)
changes on any write from any process, so a write made through another app process behind the same
load balancer is seen on the next click here. Writes made here also clear the caches at once.
"""

from __future__ import annotations

from typing import Any

import streamlit as st
from sqlalchemy.engine import Engine

from dashboard.services import ModelService
from dashboard.services.catalogue import CatalogueService, ModelFilters, Overview, Slot
from dashboard.services.providers import ProviderService
from dashboard.ui.context import context

_TTL = 600
Row = dict[str, Any]


def clear() -> None:
    """After a write: nothing cached may outlive it."""
    st.cache_data.clear()


def browse(filters: ModelFilters, *, limit: int, offset: int) -> tuple[list[Row], int]:
    ctx = context()
    return _browse(ctx.engine, ctx.user_key, ctx.cache_version, filters, limit, offset)


def slots() -> list[Slot]:
    ctx = context()
    return _slots(ctx.engine, ctx.user_key, ctx.cache_version)


def tasks() -> list[tuple[str, str]]:
    ctx = context()
    return _tasks(ctx.engine, ctx.user_key, ctx.cache_version)


def providers() -> list[Row]:
    ctx = context()
    return _providers(ctx.engine, ctx.user_key, ctx.cache_version)


def model_choices() -> list[Row]:
    ctx = context()
    return _model_choices(ctx.engine, ctx.user_key, ctx.cache_version)


def default_models() -> list[Row]:
    ctx = context()
    return _default_models(ctx.engine, ctx.user_key, ctx.cache_version)


def overview() -> Overview:
    ctx = context()
    return _overview(ctx.engine, ctx.user_key, ctx.cache_version)


@st.cache_data(ttl=_TTL, show_spinner=False, max_entries=512)
def _browse(_engine: Engine, user: str, version: tuple[int, bool], filters: ModelFilters, limit: int, offset: int):
    return CatalogueService(_engine, user_id=user).browse_models(filters, limit=limit, offset=offset)


@st.cache_data(ttl=_TTL, show_spinner=False, max_entries=128)
def _slots(_engine: Engine, user: str, version: tuple[int, bool]) -> list[Slot]:
    return CatalogueService(_engine, user_id=user).list_slots()


@st.cache_data(ttl=_TTL, show_spinner=False, max_entries=128)
def _tasks(_engine: Engine, user: str, version: tuple[int, bool]) -> list[tuple[str, str]]:
    return CatalogueService(_engine, user_id=user).list_tasks()


@st.cache_data(ttl=_TTL, show_spinner=False, max_entries=128)
def _providers(_engine: Engine, user: str, version: tuple[int, bool]) -> list[Row]:
    return ProviderService(_engine, user_id=user).list_providers()


@st.cache_data(ttl=_TTL, show_spinner=False, max_entries=128)
def _model_choices(_engine: Engine, user: str, version: tuple[int, bool]) -> list[Row]:
    return CatalogueService(_engine, user_id=user).model_choices()


@st.cache_data(ttl=_TTL, show_spinner=False, max_entries=128)
def _default_models(_engine: Engine, user: str, version: tuple[int, bool]) -> list[Row]:
    return ModelService(_engine, user_id=user).list_default_models()


# Job counts move without the catalogue changing: a minute is the most they may lag.
@st.cache_data(ttl=60, show_spinner=False, max_entries=128)
def _overview(_engine: Engine, user: str, version: tuple[int, bool]) -> Overview:
    return CatalogueService(_engine, user_id=user).overview()


def models_for_task(modality: str, task: str) -> list[Row]:
    """The active models of one slot, by priority then name (what can be made its default)."""
    ctx = context()
    return _models_for_task(ctx.engine, ctx.user_key, ctx.cache_version, modality, task)


@st.cache_data(ttl=_TTL, show_spinner=False, max_entries=128)
def _models_for_task(_engine: Engine, user: str, version: tuple[int, bool], modality: str, task: str) -> list[Row]:
    return ModelService(_engine, user_id=user).list_models_for_task(modality=modality, task=task)
