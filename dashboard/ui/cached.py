"""Cached reads, keyed by whom they are for and the catalogue's data version.

Whom a read is for (reader()): where the catalogue's read policies show every person of one role the same rows
(the seed's policies do: active rows, or every row for whom has_role() calls an admin), one read is shared by
everyone of that role, so a change costs the first admin who clicks after it one read, not every admin one each.
Anywhere else (a platform's own policies, say rows per owner) each person has reads of their own, as RLS shows
each a different catalogue. The role in the key is the one the database answered this click, and every read
still runs as the person who asked first, under RLS.

The data version (dashboard.catalogue_writes, bumped by triggers on every write) changes on any write from any
process, so a write made through another app process behind the same load balancer is seen on the next click
here. Writes made here also drop this module's reads at once (clear()); other caches keep theirs. The reads of
every slot and every model's name are also kept across versions (ui/kept_reads.py): after a write, only the
models and slots it touched are read again. The version also
says whether a write is still uncommitted (migration 0018): a read made then is kept under that state, so it is not
served once the write commits.
"""

from __future__ import annotations

from typing import Any

import streamlit as st
from sqlalchemy.engine import Engine

from dashboard.services import ModelService
from dashboard.services.catalogue import (
    CatalogueService,
    ModelFilters,
    Overview,
    Picks,
    ReadPolicies,
    Slot,
    SlotRead,
    picks_of,
    read_policies,
    slots_of,
)
from dashboard.services.providers import ProviderService
from dashboard.ui import kept_reads
from dashboard.ui.context import CacheVersion, context

_TTL = 600
# How long a process trusts what it read of the policies: a platform that changes its policies from shared rows
# to rows per person is read as such within a minute.
_POLICIES_TTL = 60
Row = dict[str, Any]


def clear() -> None:
    """After a write: drop the catalogue's cached reads (the data version has moved past them anyway)."""
    for read in (_count, _page, _slots, _picks, _tasks, _providers, _provider_choices, _model_choices, _default_models):
        read.clear()
    _overview.clear()
    _models_for_task.clear()


def policies() -> ReadPolicies:
    """The catalogue's read policies as this process last read them (at most a minute ago)."""
    engine = context().engine
    return _policies(engine, engine.url.render_as_string(hide_password=True))


def reader() -> str:
    """Whom this click's cached reads are for: the person's role where everyone of it sees the same rows, else the
    person. Other modules' cached reads of the catalogue key by it too."""
    ctx = context()
    if policies().same_rows_per_role:
        return "role:admin" if ctx.identity.is_admin else "role:user"
    return ctx.user_key


def browse(filters: ModelFilters, *, limit: int, offset: int) -> tuple[list[Row], int]:
    """One page of the models matching the filters, and how many match (counted once per filters and version)."""
    return model_page(filters, limit=limit, offset=offset), model_count(filters)


def model_count(filters: ModelFilters) -> int:
    ctx = context()
    return _count(ctx.engine, ctx.user_key, reader(), ctx.cache_version, filters)


def model_page(filters: ModelFilters, *, limit: int, offset: int) -> list[Row]:
    ctx = context()
    return _page(ctx.engine, ctx.user_key, reader(), ctx.cache_version, filters, limit, offset)


def slots() -> list[Slot]:
    ctx = context()
    return _slots(ctx.engine, ctx.user_key, reader(), ctx.cache_version)


def picks() -> Picks:
    """Each routed slot's pick and next in line (Health), read from active rows only: cheaper than slots()."""
    ctx = context()
    return _picks(ctx.engine, ctx.user_key, reader(), ctx.cache_version)


def tasks() -> list[tuple[str, str]]:
    ctx = context()
    return _tasks(ctx.engine, ctx.user_key, reader(), ctx.cache_version)


def providers() -> list[Row]:
    ctx = context()
    return _providers(ctx.engine, ctx.user_key, reader(), ctx.cache_version)


def provider_choices() -> list[Row]:
    """Every provider's id, name, display name and is_active, without the model counts providers() reads."""
    ctx = context()
    return _provider_choices(ctx.engine, ctx.user_key, reader(), ctx.cache_version)


def model_choices() -> list[Row]:
    ctx = context()
    return _model_choices(ctx.engine, ctx.user_key, reader(), ctx.cache_version)


def default_models() -> list[Row]:
    ctx = context()
    return _default_models(ctx.engine, ctx.user_key, reader(), ctx.cache_version)


def overview() -> Overview:
    """The Overview's catalogue figures, read once per data version (with the slots every page shares); its job
    figures are usage_report.recent_jobs(). Shared among admins only where they also see every job."""
    ctx = context()
    return _overview(ctx.engine, ctx.user_key, job_reader(), ctx.cache_version, slots())


def job_reader() -> str:
    """Whom a cached read of job figures is for: the admins' shared reader where each admin also sees every job, else
    the person."""
    ctx = context()
    return reader() if ctx.identity.is_admin and policies().admins_see_every_job else ctx.user_key


def models_for_task(modality: str, task: str) -> list[Row]:
    """The active models of one slot, by priority then name (what can be made its default)."""
    ctx = context()
    return _models_for_task(ctx.engine, ctx.user_key, reader(), ctx.cache_version, modality, task)


# Each read runs as _actor (the person who asked first, unhashed) and is kept for `reader`.
@st.cache_data(ttl=_POLICIES_TTL, show_spinner=False, max_entries=16)
def _policies(_engine: Engine, database: str) -> ReadPolicies:
    return read_policies(_engine)


@st.cache_data(ttl=_TTL, show_spinner=False, max_entries=512)
def _count(_engine: Engine, _actor: str, reader: str, version: CacheVersion, filters: ModelFilters) -> int:
    return CatalogueService(_engine, user_id=_actor).count_models(filters)


@st.cache_data(ttl=_TTL, show_spinner=False, max_entries=512)
def _page(
    _engine: Engine, _actor: str, reader: str, version: CacheVersion, filters: ModelFilters, limit: int, offset: int
):
    return CatalogueService(_engine, user_id=_actor).models_page(filters, limit=limit, offset=offset)


@st.cache_data(ttl=_TTL, show_spinner=False, max_entries=128)
def _slots(_engine: Engine, _actor: str, reader: str, version: CacheVersion) -> list[Slot]:
    return slots_of(_slot_rows(_engine, _actor, reader, version, "facts"))


@st.cache_data(ttl=_TTL, show_spinner=False, max_entries=128)
def _picks(_engine: Engine, _actor: str, reader: str, version: CacheVersion) -> Picks:
    return picks_of(_slot_rows(_engine, _actor, reader, version, "picks"))


def _slot_rows(engine: Engine, actor: str, reader: str, version: CacheVersion, which: SlotRead) -> list[Row]:
    """The rows of every slot, kept across data versions: after a write, only the slots it touched are read again
    (ui/kept_reads.py)."""
    service = CatalogueService(engine, user_id=actor)
    return kept_reads.refreshed(
        (engine.url.render_as_string(hide_password=True), f"slot {which}", reader),
        version,
        epoch=service.changes_epoch,
        whole=lambda: service.slot_rows(which),
        partial=lambda kept, writes, epoch: service.slot_rows_since(which, kept, writes, epoch),
    )


@st.cache_data(ttl=_TTL, show_spinner=False, max_entries=128)
def _tasks(_engine: Engine, _actor: str, reader: str, version: CacheVersion) -> list[tuple[str, str]]:
    return CatalogueService(_engine, user_id=_actor).list_tasks()


@st.cache_data(ttl=_TTL, show_spinner=False, max_entries=128)
def _providers(_engine: Engine, _actor: str, reader: str, version: CacheVersion) -> list[Row]:
    return ProviderService(_engine, user_id=_actor).list_providers()


@st.cache_data(ttl=_TTL, show_spinner=False, max_entries=128)
def _provider_choices(_engine: Engine, _actor: str, reader: str, version: CacheVersion) -> list[Row]:
    return CatalogueService(_engine, user_id=_actor).provider_choices()


@st.cache_data(ttl=_TTL, show_spinner=False, max_entries=128)
def _model_choices(_engine: Engine, _actor: str, reader: str, version: CacheVersion) -> list[Row]:
    service = CatalogueService(_engine, user_id=_actor)
    return kept_reads.refreshed(
        (_engine.url.render_as_string(hide_password=True), "model choices", reader),
        version,
        epoch=service.changes_epoch,
        whole=service.model_choices,
        partial=service.model_choices_since,
    )


@st.cache_data(ttl=_TTL, show_spinner=False, max_entries=128)
def _default_models(_engine: Engine, _actor: str, reader: str, version: CacheVersion) -> list[Row]:
    return ModelService(_engine, user_id=_actor).list_default_models()


@st.cache_data(ttl=_TTL, show_spinner=False, max_entries=128)
def _overview(_engine: Engine, _actor: str, reader: str, version: CacheVersion, _slots: list[Slot]) -> Overview:
    return CatalogueService(_engine, user_id=_actor).overview(slots=_slots, jobs=False)


@st.cache_data(ttl=_TTL, show_spinner=False, max_entries=128)
def _models_for_task(_engine: Engine, _actor: str, reader: str, version: CacheVersion, modality: str, task: str):
    return ModelService(_engine, user_id=_actor).list_models_for_task(modality=modality, task=task)
