"""A model picker that searches: what was typed narrows the catalogue to its first matches, so a picker never sends
the browser every model (a select of 10,000 models is about 400-800 KB on every click).

The catalogue's ids and labels are worked out once per data version and reader (ui/cached.py's keys) and shared,
not rebuilt on every click: at 10,000 models, building them from the cached rows cost about 110 ms a click."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from dashboard.ui import cached
from dashboard.ui.context import CacheVersion, context

MATCHES = 50  # how many models a picker offers for what was typed
HELP = f"Type part of a name or provider under Find a model: this list offers the first {MATCHES} matches."


def labelled(row: dict[str, Any]) -> str:
    return f"{row['display_name']} ({row['provider_name']})"


@dataclass(frozen=True)
class _Labels:
    """Every model's id, label and label casefolded, by name: shared by every session, so never changed."""

    ids: tuple[str, ...]
    labels: tuple[str, ...]
    folded: tuple[str, ...]
    id_set: frozenset[str]  # the ids again, to check a model named in a link


def _labels(label: Callable[[dict], str]) -> _Labels:
    ctx = context()
    return _built(cached.reader(), ctx.cache_version, label.__module__ + "." + label.__qualname__, label)


@st.cache_resource(ttl=600, max_entries=32, show_spinner=False)
def _built(reader: str, version: CacheVersion, style: str, _label: Callable[[dict], str]) -> _Labels:
    rows = cached.model_choices()
    ids = tuple(str(row["id"]) for row in rows)
    labels = tuple(_label(row) for row in rows)
    return _Labels(ids, labels, tuple(text.casefold() for text in labels), frozenset(ids))


def model_ids() -> frozenset[str]:
    """Every model id the person may see (to check a model named in a link)."""
    return _labels(labelled).id_set


def matches(text: str, *, keep: str | None = None, label: Callable[[dict], str] = labelled) -> dict[str, str]:
    """The first MATCHES models (by name) whose label holds text, any case, taken literally, as {id: label}; keep
    (the model shown or picked) is always among them."""
    wanted = text.strip().casefold()
    every = _labels(label)
    found: dict[str, str] = {}
    for model_id, name, folded in zip(every.ids, every.labels, every.folded, strict=True):
        if model_id == keep or (len(found) < MATCHES and wanted in folded):
            found[model_id] = name
            if len(found) >= MATCHES and (keep is None or keep in found):
                break
    return found


def placeholder(offered: int) -> str:
    """What a picker says before anything is picked: how many of all the models it offers, and how to find others."""
    total = len(_labels(labelled).ids)
    if not offered:
        return "No model matches: try fewer letters under Find a model"
    if offered < total:
        return f"The first {offered} of {total:,} models: type under Find a model to find others"
    return f"Pick one of {total:,} models, or type to search"
