"""Estimated spend: what can be costed from pricing and input defaults, and why the rest cannot."""

import math

import pandas as pd
import pytest

from dashboard.services.spend import CostBasis, cost_basis, estimate_spend, totals_by_currency


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
