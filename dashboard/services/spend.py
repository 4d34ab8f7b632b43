"""Estimated spend from each model's pricing: what can be costed, and why the rest cannot.

Jobs record no duration, token or character counts, so a job's units come from the model's
input defaults where they can (an image per job unless num_outputs says more; a clip's duration);
anything else is listed with the reason, never counted as zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np
import pandas as pd

from dashboard.services.usage import GROUP_COLUMN
from dashboard.services.validation import BILLING_UNITS

UNIT_NAMES = {
    "per_image": "image",
    "per_second": "second",
    "per_minute": "minute",
    "per_token": "token",
    "per_1k_tokens": "1K tokens",
    "per_1m_tokens": "1M tokens",
    "per_character": "character",
    "per_request": "request",
}
_UNCOUNTED = {
    "per_token": "tokens",
    "per_1k_tokens": "tokens",
    "per_1m_tokens": "tokens",
    "per_character": "characters",
}
BILLED_STATUS = "completed"


@dataclass(frozen=True)
class CostBasis:
    """How one job of a model is costed: price × units per job, or why it cannot be."""

    price: float | None = None
    unit: str | None = None
    currency: str | None = None
    units_per_job: float | None = None
    reason: str | None = None

    @property
    def costed(self) -> bool:
        return self.reason is None

    def describe(self) -> str:
        if not self.costed:
            return self.reason or ""
        return _describe(self.price, self.currency, self.unit, self.units_per_job)  # all set when costed


def _describe(price: Any, currency: Any, unit: Any, units_per_job: Any) -> str:
    name = UNIT_NAMES[unit]
    per_job = f"{units_per_job:g} {name}{'s' if units_per_job != 1 and name[-1] != 's' else ''}"
    return f"{price:g} {currency} per {name} × {per_job} per job"


def cost_basis(pricing: Any, input_defaults: Any) -> CostBasis:
    """The cost of one job of a model, from its pricing and input defaults."""
    price, unit, currency, units_per_job, reason = _basis_row(pricing, input_defaults)
    return CostBasis(price=price, unit=unit, currency=currency, units_per_job=units_per_job, reason=reason)


# What the cost of one job rests on, per model: cost_bases() works it out from pricing and input defaults once (the
# Usage page caches it with the catalogue), estimate_spend() multiplies it by the completed jobs.
BASIS_COLUMNS = ("price", "unit", "currency", "units_per_job", "basis", "reason")
_COSTED_COLUMNS = ["model_id", "display_name", "provider_name", "modality", "task", "completed_jobs", "spend"]
_NOT_COSTED_COLUMNS = ["model_id", "display_name", "provider_name", "modality", "task", "completed_jobs", "reason"]


def _number(value: Any) -> float | None:
    """A JSON number as a float (None for anything else, and for an integer too large for a float)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def _positive(value: Any) -> float | None:
    number = _number(value)
    return number if number is not None and math.isfinite(number) and number > 0 else None


def _basis_row(pricing: Any, input_defaults: Any) -> tuple:
    """cost_basis() as a plain row (price, unit, currency, units_per_job, reason): no dataclass per model."""
    if not isinstance(pricing, dict) or not pricing:
        return None, None, None, None, "no pricing set"
    unit = pricing.get("billing_unit")
    if not isinstance(unit, str) or unit not in BILLING_UNITS:
        return None, None, None, None, "pricing has no known billing_unit"
    price = _number(pricing.get(unit))
    if price is None or price < 0:
        return None, None, None, None, f"pricing has no price for {unit}"
    currency = pricing.get("currency")
    if not isinstance(currency, str) or not currency:
        return None, None, None, None, "pricing has no currency"
    if unit in _UNCOUNTED:
        return price, unit, currency, None, f"priced per {UNIT_NAMES[unit]}, and jobs do not record {_UNCOUNTED[unit]}"
    defaults = input_defaults if isinstance(input_defaults, dict) else {}
    if unit == "per_request":
        return price, unit, currency, 1.0, None
    if unit == "per_image":
        outputs = _positive(defaults.get("num_outputs")) or _positive(defaults.get("num_images"))
        return price, unit, currency, outputs or 1.0, None
    seconds = _positive(defaults.get("duration"))
    if seconds is None:
        return price, unit, currency, None, f"priced per {UNIT_NAMES[unit]}, and its input defaults give no duration"
    return price, unit, currency, seconds / 60 if unit == "per_minute" else seconds, None


def cost_bases(pricing: Any, input_defaults: Any) -> pd.DataFrame:
    """cost_basis() for many models at once (two sequences of decoded JSON): one row per model with price, unit,
    currency, units_per_job, basis (how a job is costed, in words) and reason (why it cannot be; None if costed)."""
    rows = list(map(_basis_row, pricing, input_defaults))
    frame = pd.DataFrame(rows, columns=["price", "unit", "currency", "units_per_job", "reason"], dtype=object)
    for column in ("price", "units_per_job"):
        frame[column] = frame[column].astype(float)
    costed = frame["reason"].isna()
    frame["basis"] = None
    if costed.any():
        part = frame[costed]
        frame.loc[costed, "basis"] = list(
            map(_describe, part["price"], part["currency"], part["unit"], part["units_per_job"])
        )
    return frame[list(BASIS_COLUMNS)]


def estimate_spend(usage: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(costed, not costed) from per-model usage with the BASIS_COLUMNS (as cost_bases() gives them), or with
    pricing and input_defaults columns to work them out from.

    Spend counts completed jobs only. costed has spend, currency and basis per model, most first;
    not_costed has the reason and the completed jobs that are left out.
    """
    if all(c in usage for c in BASIS_COLUMNS):
        bases = usage[list(BASIS_COLUMNS)].reset_index(drop=True)
    else:
        bases = cost_bases(usage["pricing"], usage["input_defaults"])
    # Columns taken as they are (a copy of text to numpy and back costs more than the arithmetic).
    frame = usage.reindex(columns=_COSTED_COLUMNS[:5]).reset_index(drop=True)
    for column in ("modality", "task"):
        if column not in usage:
            frame[column] = None
    frame["completed_jobs"] = usage["completed_jobs"].to_numpy().astype("int64")
    costed = bases["reason"].isna().to_numpy(dtype=bool)
    units = bases["units_per_job"].to_numpy(dtype=float)[costed]
    with np.errstate(over="ignore", invalid="ignore"):  # a price of 1e308 costs inf, as Python's floats say
        spend = frame["completed_jobs"].to_numpy()[costed] * units * bases["price"].to_numpy(dtype=float)[costed]
    costed_frame = frame[costed].copy()
    # Python's round, not numpy's (which scales by 10**6 first and can land one digit off).
    costed_frame["spend"] = list(map(round, spend.tolist(), repeat(6)))
    costed_frame["currency"] = bases["currency"].to_numpy()[costed]
    costed_frame["basis"] = bases["basis"].to_numpy()[costed]
    costed_frame = costed_frame.sort_values("spend", ascending=False, kind="stable").reset_index(drop=True)
    not_costed_frame = frame[~costed].reset_index(drop=True)
    not_costed_frame["reason"] = bases["reason"].to_numpy()[~costed]
    return costed_frame[[*_COSTED_COLUMNS, "currency", "basis"]], not_costed_frame[_NOT_COSTED_COLUMNS]


def group_spend(costed: pd.DataFrame, by: str) -> pd.DataFrame:
    """Estimated spend per model, provider, modality or task (the Usage page's grouping), one line per group and
    currency (never added across currencies), most first; per model it is costed itself."""
    if by not in GROUP_COLUMN:
        raise ValueError(f"group by one of {', '.join(GROUP_COLUMN)}")
    if by == "model":
        return costed
    column = GROUP_COLUMN[by]
    grouped = costed.groupby([column, "currency"], as_index=False, dropna=False).agg(
        spend=("spend", "sum"), completed_jobs=("completed_jobs", "sum"), models=("model_id", "count")
    )
    grouped["spend"] = grouped["spend"].round(6)
    return grouped.sort_values("spend", ascending=False, kind="stable").reset_index(drop=True)


def totals_by_currency(costed: pd.DataFrame) -> dict[str, float]:
    """Total spend per currency (never added across currencies)."""
    if costed.empty:
        return {}
    return {str(k): float(v) for k, v in costed.groupby("currency")["spend"].sum().items()}
