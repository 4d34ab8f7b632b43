"""Estimated spend from each model's pricing: what can be costed, and why the rest cannot.

Jobs record no duration, token or character counts, so a job's units come from the model's
input defaults where they can (an image per job unless num_outputs says more; a clip's duration);
anything else is listed with the reason, never counted as zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

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
        unit = UNIT_NAMES[self.unit or ""]
        per_job = f"{self.units_per_job:g} {unit}{'s' if self.units_per_job != 1 and unit[-1] != 's' else ''}"
        return f"{self.price:g} {self.currency} per {unit} × {per_job} per job"


def _positive_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None


def cost_basis(pricing: Any, input_defaults: Any) -> CostBasis:
    """The cost of one job of a model, from its pricing and input defaults."""
    if not isinstance(pricing, dict) or not pricing:
        return CostBasis(reason="no pricing set")
    unit = pricing.get("billing_unit")
    if unit not in BILLING_UNITS:
        return CostBasis(reason="pricing has no known billing_unit")
    price = pricing.get(unit)
    if isinstance(price, bool) or not isinstance(price, int | float) or price < 0:
        return CostBasis(reason=f"pricing has no price for {unit}")
    currency = pricing.get("currency")
    if not isinstance(currency, str) or not currency:
        return CostBasis(reason="pricing has no currency")
    defaults = input_defaults if isinstance(input_defaults, dict) else {}
    basis = {"price": float(price), "unit": unit, "currency": currency}
    if unit in _UNCOUNTED:
        return CostBasis(**basis, reason=f"priced per {UNIT_NAMES[unit]}, and jobs do not record {_UNCOUNTED[unit]}")
    if unit == "per_request":
        return CostBasis(**basis, units_per_job=1.0)
    if unit == "per_image":
        outputs = _positive_number(defaults.get("num_outputs")) or _positive_number(defaults.get("num_images"))
        return CostBasis(**basis, units_per_job=outputs or 1.0)
    seconds = _positive_number(defaults.get("duration"))
    if seconds is None:
        return CostBasis(**basis, reason=f"priced per {UNIT_NAMES[unit]}, and its input defaults give no duration")
    return CostBasis(**basis, units_per_job=seconds / 60 if unit == "per_minute" else seconds)


def estimate_spend(usage: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(costed, not costed) from per-model usage with pricing and input_defaults columns.

    Spend counts completed jobs only. costed has spend, currency and basis per model, most first;
    not_costed has the reason and the completed jobs that are left out.
    """
    costed, not_costed = [], []
    for row in usage.itertuples(index=False):
        basis = cost_basis(row.pricing, row.input_defaults)
        base = {
            "model_id": row.model_id,
            "display_name": row.display_name,
            "provider_name": row.provider_name,
            "modality": getattr(row, "modality", None),
            "task": getattr(row, "task", None),
            "completed_jobs": int(row.completed_jobs),
        }
        if basis.costed:
            spend = row.completed_jobs * (basis.units_per_job or 0) * (basis.price or 0)
            costed.append(
                {**base, "spend": round(float(spend), 6), "currency": basis.currency, "basis": basis.describe()}
            )
        else:
            not_costed.append({**base, "reason": basis.reason})
    costed_frame = pd.DataFrame(
        costed,
        columns=[
            "model_id",
            "display_name",
            "provider_name",
            "modality",
            "task",
            "completed_jobs",
            "spend",
            "currency",
            "basis",
        ],
    )
    costed_frame = costed_frame.sort_values("spend", ascending=False, kind="stable").reset_index(drop=True)
    not_costed_frame = pd.DataFrame(
        not_costed,
        columns=["model_id", "display_name", "provider_name", "modality", "task", "completed_jobs", "reason"],
    )
    return costed_frame, not_costed_frame


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
