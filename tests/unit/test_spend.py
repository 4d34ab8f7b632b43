"""Estimated spend: what can be costed from pricing and input defaults, and why the rest cannot."""

import math

import pandas as pd
import pytest

from dashboard.services.spend import UNIT_NAMES, CostBasis, cost_bases, cost_basis, estimate_spend, totals_by_currency
from dashboard.services.validation import BILLING_UNITS


def _price(unit, amount, currency="USD"):
    return {unit: amount, "billing_unit": unit, "currency": currency}


@pytest.mark.parametrize(
    ("pricing", "defaults", "units"),
    [
        (_price("per_image", 0.04), {}, 1.0),
        (_price("per_image", 0.04), {"num_outputs": 4}, 4.0),
        (_price("per_request", 0.01), {}, 1.0),
        (_price("per_second", 0.05), {"duration": 5}, 5.0),
        (_price("per_minute", 0.006), {"duration": 90}, 1.5),
    ],
)
def test_costed_units_per_job(pricing, defaults, units):
    basis = cost_basis(pricing, defaults)
    assert basis.costed and basis.units_per_job == units
    assert basis.currency == "USD" and pricing["billing_unit"].removeprefix("per_") in basis.describe()


@pytest.mark.parametrize(
    ("pricing", "defaults", "reason"),
    [
        ({}, {}, "no pricing set"),
        (None, {}, "no pricing set"),
        ({"currency": "USD"}, {}, "no known billing_unit"),
        ({"billing_unit": "per_image", "currency": "USD"}, {}, "no price for per_image"),
        (_price("per_image", "0.04"), {}, "no price"),
        (_price("per_image", True), {}, "no price"),
        (_price("per_image", -1), {}, "no price"),
        ({"per_image": 0.04, "billing_unit": "per_image"}, {}, "no currency"),
        (_price("per_1m_tokens", 5.0), {"max_tokens": 256}, "jobs do not record tokens"),
        (_price("per_character", 0.0002), {}, "jobs do not record characters"),
        (_price("per_second", 0.05), {}, "give no duration"),
        (_price("per_second", 0.05), {"duration": "5"}, "give no duration"),
        (_price("per_second", 0.05), {"duration": float("nan")}, "give no duration"),
        (_price("per_minute", 0.05), {"duration": -3}, "give no duration"),
        ({"billing_unit": "<script>", "<script>": 1, "currency": "USD"}, {}, "no known billing_unit"),
    ],
)
def test_what_cannot_be_costed_says_why(pricing, defaults, reason):
    basis = cost_basis(pricing, defaults)
    assert not basis.costed and reason in basis.reason


def test_spend_counts_completed_jobs_and_lists_the_rest():
    usage = pd.DataFrame(
        [
            {
                "model_id": 1,
                "display_name": "A",
                "provider_name": "p",
                "completed_jobs": 100,
                "pricing": _price("per_image", 0.04),
                "input_defaults": {},
            },
            {
                "model_id": 2,
                "display_name": "B",
                "provider_name": "p",
                "completed_jobs": 10,
                "pricing": _price("per_second", 0.05),
                "input_defaults": {"duration": 5},
            },
            {
                "model_id": 3,
                "display_name": "C",
                "provider_name": "p",
                "completed_jobs": 7,
                "pricing": _price("per_1m_tokens", 5.0),
                "input_defaults": {},
            },
            {
                "model_id": 4,
                "display_name": "D",
                "provider_name": "p",
                "completed_jobs": 3,
                "pricing": _price("per_image", 0.5, "EUR"),
                "input_defaults": {},
            },
        ]
    )
    costed, not_costed = estimate_spend(usage)
    assert list(costed["display_name"]) == ["A", "B", "D"]
    assert math.isclose(costed.loc[0, "spend"], 4.0) and math.isclose(costed.loc[1, "spend"], 2.5)
    assert list(not_costed["display_name"]) == ["C"] and not_costed.loc[0, "completed_jobs"] == 7
    assert totals_by_currency(costed) == pytest.approx({"USD": 6.5, "EUR": 1.5})


def test_nothing_to_cost():
    columns = ["model_id", "display_name", "provider_name", "completed_jobs", "pricing", "input_defaults"]
    costed, not_costed = estimate_spend(pd.DataFrame(columns=columns))
    assert costed.empty and not_costed.empty and totals_by_currency(costed) == {}


def test_describe_reads_naturally():
    assert CostBasis(0.05, "per_second", "USD", 5.0).describe() == "0.05 USD per second × 5 seconds per job"
    assert CostBasis(0.04, "per_image", "USD", 1.0).describe() == "0.04 USD per image × 1 image per job"


def _costed_usage():
    from tests import hostile

    rows = [
        ("A", "alpha", "image", 100, _price("per_image", 0.04)),
        ("B", "alpha", "video", 10, _price("per_second", 0.05)),
        (hostile.HTML, "beta", "image", 3, _price("per_image", 0.5, "EUR")),
        ("D", "beta", "image", 4, _price("per_image", 0.25)),
    ]
    return pd.DataFrame(
        [
            {
                "model_id": n,
                "display_name": name,
                "provider_name": provider,
                "modality": modality,
                "task": "generation",
                "completed_jobs": jobs,
                "pricing": pricing,
                "input_defaults": {"duration": 5},
            }
            for n, (name, provider, modality, jobs, pricing) in enumerate(rows)
        ]
    )


def test_spend_follows_the_chosen_grouping_and_never_adds_currencies():
    from dashboard.services.spend import group_spend

    costed, _ = estimate_spend(_costed_usage())
    by_provider = group_spend(costed, "provider")
    assert [(r.provider_name, r.currency, r.spend, r.completed_jobs, r.models) for r in by_provider.itertuples()] == [
        ("alpha", "USD", 6.5, 110, 2),
        ("beta", "EUR", 1.5, 3, 1),
        ("beta", "USD", 1.0, 4, 1),
    ]
    by_modality = group_spend(costed, "modality")
    spent = {(r.modality, r.currency): r.spend for r in by_modality.itertuples()}
    assert spent == pytest.approx({("image", "USD"): 5.0, ("video", "USD"): 2.5, ("image", "EUR"): 1.5})
    assert group_spend(costed, "model") is costed
    with pytest.raises(ValueError):
        group_spend(costed, "display_name; drop table jobs")


# ─── The vectorised estimate equals the per-model one it replaced ────────────────────────────────
def _reference_basis(pricing, input_defaults) -> CostBasis:
    """cost_basis() as it was before cost_bases(): one dataclass per model, kept here as the reference."""

    def positive(value):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value) if math.isfinite(value) and value > 0 else None

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
    uncounted = {"per_token": "tokens", "per_1k_tokens": "tokens", "per_1m_tokens": "tokens"}
    uncounted["per_character"] = "characters"
    if unit in uncounted:
        return CostBasis(**basis, reason=f"priced per {UNIT_NAMES[unit]}, and jobs do not record {uncounted[unit]}")
    if unit == "per_request":
        return CostBasis(**basis, units_per_job=1.0)
    if unit == "per_image":
        outputs = positive(defaults.get("num_outputs")) or positive(defaults.get("num_images"))
        return CostBasis(**basis, units_per_job=outputs or 1.0)
    seconds = positive(defaults.get("duration"))
    if seconds is None:
        return CostBasis(**basis, reason=f"priced per {UNIT_NAMES[unit]}, and its input defaults give no duration")
    return CostBasis(**basis, units_per_job=seconds / 60 if unit == "per_minute" else seconds)


def _reference_spend(usage: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """estimate_spend() as it was: a loop over the models."""
    costed, not_costed = [], []
    for row in usage.itertuples(index=False):
        basis = _reference_basis(row.pricing, row.input_defaults)
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
            unit, units = UNIT_NAMES[basis.unit], basis.units_per_job
            per_job = f"{units:g} {unit}{'s' if units != 1 and unit[-1] != 's' else ''}"
            described = f"{basis.price:g} {basis.currency} per {unit} × {per_job} per job"
            costed.append({**base, "spend": round(float(spend), 6), "currency": basis.currency, "basis": described})
        else:
            not_costed.append({**base, "reason": basis.reason})
    columns = ["model_id", "display_name", "provider_name", "modality", "task", "completed_jobs"]
    costed_frame = pd.DataFrame(costed, columns=[*columns, "spend", "currency", "basis"])
    costed_frame = costed_frame.sort_values("spend", ascending=False, kind="stable").reset_index(drop=True)
    return costed_frame, pd.DataFrame(not_costed, columns=[*columns, "reason"])


_NAN = float("nan")
HOSTILE_PRICING = [
    None,
    [],
    "per_image",
    {},
    {"billing_unit": None, "currency": "USD"},
    {"billing_unit": ["per_image"], "per_image": 1, "currency": "USD"},
    {"billing_unit": {"per_image": 1}, "currency": "USD"},
    _price("per_image", "0.04"),
    _price("per_image", "NaN"),
    _price("per_image", _NAN),
    _price("per_image", float("inf")),
    _price("per_image", -0.0),
    _price("per_image", 0),
    _price("per_image", -1e-12),
    _price("per_image", True),
    _price("per_image", None),
    _price("per_image", {"amount": 0.04}),
    _price("per_image", [0.04]),
    _price("per_image", 1e308),
    _price("per_image", 2**53 + 1),
    _price("per_image", 0.0023, currency=""),
    _price("per_image", 0.0023, currency=7),
    _price("per_image", 0.0023, currency={"code": "USD"}),
    _price("per_image", 0.0023, currency="<b>€</b>"),
    _price("per_request", 0.01),
    _price("per_second", 0.05),
    _price("per_minute", 0.006),
    _price("per_token", 1e-6),
    _price("per_1k_tokens", 0.002),
    _price("per_1m_tokens", 5),
    _price("per_character", 0.0002),
    {**_price("per_image", 0.04), "per_second": "x", "note": {"nested": [1, {"deep": None}]}},
]
HOSTILE_DEFAULTS = [
    None,
    "duration=5",
    [],
    {},
    {"duration": 5},
    {"duration": "5"},
    {"duration": _NAN},
    {"duration": float("inf")},
    {"duration": -3},
    {"duration": 0},
    {"duration": True},
    {"duration": 1e308},
    {"duration": [5]},
    {"num_outputs": 4},
    {"num_outputs": 0, "num_images": 2},
    {"num_outputs": "4", "num_images": 3.5},
    {"num_outputs": _NAN, "num_images": -1},
    {"num_outputs": 2**53 + 1},
    {"num_outputs": {"n": 4}},
]


def _hostile_usage() -> pd.DataFrame:
    rows = [
        {
            "model_id": f"m{i}-{j}",
            "display_name": f"=HYPERLINK({i})" if i % 7 == 0 else f"Model {i}",
            "provider_name": "<script>p</script>",
            "modality": "image",
            "task": "generation",
            "completed_jobs": (i * 37 + j * 11) % 1000,
            "pricing": pricing,
            "input_defaults": defaults,
        }
        for i, pricing in enumerate(HOSTILE_PRICING)
        for j, defaults in enumerate(HOSTILE_DEFAULTS)
    ]
    return pd.DataFrame(rows)


def _same(new: pd.DataFrame, old: pd.DataFrame) -> None:
    assert list(new.columns) == list(old.columns) and len(new) == len(old)
    for column in new.columns:
        for a, b in zip(new[column], old[column], strict=True):
            assert a == b or (a != a and b != b) or (a is None and b is None), (column, a, b)


def test_the_estimate_equals_the_per_model_loop_it_replaced_on_hostile_pricing():
    usage = _hostile_usage()
    (costed, not_costed), (old_costed, old_not_costed) = estimate_spend(usage), _reference_spend(usage)
    _same(costed, old_costed)
    _same(not_costed, old_not_costed)
    assert len(costed) and len(not_costed)  # both kinds are exercised
    for pricing in HOSTILE_PRICING:
        for defaults in HOSTILE_DEFAULTS:
            assert cost_basis(pricing, defaults) == _reference_basis(pricing, defaults) or math.isnan(
                cost_basis(pricing, defaults).price or 0
            )


def test_cached_cost_bases_give_the_same_estimate_as_the_json():
    usage = _hostile_usage()
    bases = cost_bases(usage["pricing"], usage["input_defaults"])
    from_bases = usage.drop(columns=["pricing", "input_defaults"]).join(bases)
    for new, old in zip(estimate_spend(from_bases), estimate_spend(usage), strict=True):
        _same(new, old)


def test_numbers_too_large_for_a_float_are_no_price_rather_than_a_crash():
    # jsonb keeps any number; JSON decoding turns a 400-digit integer into an int that no float can hold.
    assert cost_basis(_price("per_image", 10**400), {}).reason == "pricing has no price for per_image"
    assert cost_basis(_price("per_image", 0.5), {"num_outputs": 10**400}).units_per_job == 1.0
    assert cost_basis(_price("per_second", 0.5), {"duration": 10**400}).reason.endswith("give no duration")
    usage = _hostile_usage().head(1).assign(pricing=[_price("per_image", 10**400)], input_defaults=[{}])
    costed, not_costed = estimate_spend(usage)
    assert costed.empty and list(not_costed["reason"]) == ["pricing has no price for per_image"]
