"""A model picker that searches: what was typed narrows the catalogue to its first matches, so a picker never sends
the browser every model (a select of 10,000 models is about 400-800 KB on every click)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dashboard.ui import cached

MATCHES = 50  # how many models a picker offers for what was typed
HELP = f"Type part of a name or provider under Find a model: this list offers the first {MATCHES} matches."


def labelled(row: dict[str, Any]) -> str:
    return f"{row['display_name']} ({row['provider_name']})"


def model_ids() -> set[str]:
    """Every model id the person may see (to check a model named in a link)."""
    return {str(row["id"]) for row in cached.model_choices()}


def matches(text: str, *, keep: str | None = None, label: Callable[[dict], str] = labelled) -> dict[str, str]:
    """The first MATCHES models (by name) whose label holds text, any case, taken literally, as {id: label}; keep
    (the model shown or picked) is always among them."""
    wanted = text.strip().casefold()
    found: dict[str, str] = {}
    for row in cached.model_choices():
        name = label(row)
        if str(row["id"]) == keep or (len(found) < MATCHES and wanted in name.casefold()):
            found[str(row["id"])] = name
    return found


def placeholder(offered: int) -> str:
    """What a picker says before anything is picked: how many of all the models it offers, and how to find others."""
    total = len(cached.model_choices())
    if not offered:
        return "No model matches: try fewer letters under Find a model"
    if offered < total:
        return f"The first {offered} of {total:,} models: type under Find a model to find others"
    return f"Pick one of {total:,} models, or type to search"
