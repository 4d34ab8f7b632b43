"""A slot of any size in memory (pure: no database): moving models by position, searching them, and the CSV table
of every model of a Routing preview."""

from __future__ import annotations

from uuid import uuid4

import pytest

from dashboard.export import to_csv_bytes
from dashboard.services.bulk import moved_to
from dashboard.services.routing import build_preview, found_in, matching, preview_table
from tests import hostile

ORDER = list("abcdef")


@pytest.mark.parametrize(
    ("places", "expected"),
    [
        ({"e": 1}, "eabcdf"),
        ({"a": 6}, "bcdefa"),
        ({"b": 4}, "acdbef"),
        ({"b": 2}, "abcdef"),  # already there
        ({"f": 1, "a": 6}, "fbcdea"),  # two at once: each lands where it was put
        ({"c": 1, "e": 2}, "ceabdf"),
        ({"e": 2, "b": 2}, "abecdf"),  # the same place: their order from before (b above e) stays
        ({"c": 0}, "cabdef"),
        ({"c": -(2**80)}, "cabdef"),  # beyond either end: that end
        ({"c": 2**80}, "abdefc"),
        ({"zz": 1}, "abcdef"),  # not in the order: ignored
        ({}, "abcdef"),
    ],
)
def test_moved_to_puts_each_model_at_its_place(places, expected):
    assert "".join(moved_to(ORDER, places)) == expected


def test_moved_to_keeps_every_model_once_at_ten_thousand():
    order = list(range(10_000))
    moved = moved_to(order, {9_999: 1, 0: 10_000, 5_000: 2})
    assert moved[:2] == [9_999, 5_000] and moved[-1] == 0 and sorted(moved) == order


def _model(name, priority, *, active=True, key=None):
    return {
        "id": uuid4(),
        "display_name": name,
        "model_key": key or f"owner/{name.lower()}",
        "priority": priority,
        "is_default": False,
        "is_active": active,
        "provider_active": True,
        "provider_name": "Replicate",
        "provider_key": "replicate",
    }


def test_a_search_finds_by_name_provider_or_model_id_in_any_case_and_takes_no_pattern():
    assert found_in("sdxl", "SDXL 1.0", "fal.ai", "x")
    assert found_in("FAL", "SDXL 1.0", "fal.ai", "x")
    assert found_in(" stability-ai/ ", "SDXL 1.0", "fal.ai", "stability-ai/sdxl")
    assert found_in("", "anything") and found_in("   ", "anything")
    assert not found_in(".*", "SDXL 1.0", "fal.ai", "x")  # no regular expressions
    assert not found_in("%", "SDXL 1.0") and found_in("%", "100% model")  # nor LIKE wildcards
    assert found_in(hostile.SQL, f"x{hostile.SQL}y")


def test_the_csv_table_holds_every_model_candidates_first_then_the_left_out():
    models = [_model(f"M{n:04d}", n, active=n % 3 != 0) for n in range(1, 2_001)]
    models.append(_model(hostile.FORMULA, 0, key=hostile.HYPERLINK))
    ranked = sorted((m for m in models if m["is_active"]), key=lambda m: m["priority"])
    preview = build_preview("image", "generation", ranked, models)
    table = preview_table(preview)
    assert len(table) == 2_001
    assert list(table["Role"][:2]) == ["picked", "fallback"] and table["Role"].iloc[-1] == "left out"
    assert table["Rank"].iloc[0] == 1 and table["Rank"].isna().sum() == len(preview.excluded)
    assert set(table["Why left out"][table["Role"] == "left out"]) == {"model inactive"}
    assert hostile.csv_problems(to_csv_bytes(table)) == []
    assert [m.display_name for m in matching(preview.candidates, "m000")][:2] == ["M0001", "M0002"]
    assert matching(preview.candidates, "") is preview.candidates
