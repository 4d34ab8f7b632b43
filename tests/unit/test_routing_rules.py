"""routing_rules: the seed's routing rules in memory, checked exhaustively on random slots (fixed seeds)."""

from __future__ import annotations

import functools
import random
from uuid import UUID

import pytest

from dashboard.services import routing_rules as rules
from tests import hostile

NAMES = ["alpha", "beta", "gamma", "Alpha", "b", hostile.LINK, hostile.HTML, hostile.FORMULA, hostile.EMOJI]


def _model(rng: random.Random, n: int, *, default: bool = False) -> dict:
    return {
        "id": UUID(int=rng.getrandbits(128)),
        "display_name": rng.choice(NAMES),
        "priority": rng.randint(0, 3),
        "is_default": default,
        "is_active": rng.random() < 0.7,
        "provider_active": rng.random() < 0.75,
        "provider_name": f"P{n % 3}",
        "modality": "image",
        "task": "generation",
    }


def random_slots(seed: int, count: int = 400) -> list[list[dict]]:
    """Slots of 0 to 8 models with few priorities (ties are common), at most one default (sometimes two: a
    catalogue that breaks the seed's rule must not break the rules' functions)."""
    rng = random.Random(seed)
    slots = []
    for _ in range(count):
        size = rng.randint(0, 8)
        defaults = set(rng.sample(range(size), min(size, rng.choice((0, 1, 1, 1, 2)))))
        slots.append([_model(rng, n, default=n in defaults) for n in range(size)])
    return slots


def _brute_force_order(models: list[dict]) -> list[dict]:
    """The seed's ORDER BY am.priority, am.is_default DESC, then display_name and id, written out as a comparison."""

    def compare(a: dict, b: dict) -> int:
        for x, y in (
            (a["priority"], b["priority"]),
            (b["is_default"], a["is_default"]),
            (a["display_name"], b["display_name"]),
            (str(a["id"]), str(b["id"])),
        ):
            if x != y:
                return -1 if x < y else 1
        return 0

    able = [m for m in models if m["is_active"] is True and m["provider_active"] is True]
    return sorted(able, key=functools.cmp_to_key(compare))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_candidates_are_the_brute_force_order_of_the_models_that_can_take_jobs(seed):
    for models in random_slots(seed):
        assert rules.candidates(models) == _brute_force_order(models)


@pytest.mark.parametrize("seed", [4, 5])
def test_the_pick_is_always_a_candidate_and_the_first(seed):
    for models in random_slots(seed):
        pick, ranked = rules.pick(models), rules.candidates(models)
        assert (pick is None) == (not ranked)
        if pick is not None:
            assert rules.can_take_jobs(pick) and rules.exclusion_reason(pick) is None and pick is ranked[0]
            assert all(rules.routing_key(pick) <= rules.routing_key(m) for m in ranked)


@pytest.mark.parametrize("seed", [6])
def test_a_model_is_left_out_exactly_when_it_has_a_reason(seed):
    for models in random_slots(seed):
        chosen = {id(m) for m in rules.candidates(models)}
        for model in models:
            reason = rules.exclusion_reason(model)
            assert (reason is None) == (id(model) in chosen)
            if reason:
                assert ("model inactive" in reason) == (not model["is_active"])
                assert (f"provider {model['provider_name']} inactive" in reason) == (not model["provider_active"])


def _codes(findings) -> set[str]:
    return {f.code for f in findings}


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_findings_agree_with_the_pick(seed):
    for models in random_slots(seed):
        findings = rules.slot_findings("image/generation", models)
        codes, pick, ranked = _codes(findings), rules.pick(models), rules.candidates(models)
        defaults = [m for m in models if m["is_default"]]
        # Exactly one "no candidate" error when nothing can take the slot's jobs, and it says why.
        errors = [f for f in findings if f.severity == "error"]
        assert bool(errors) == (pick is None) and len(errors) <= 1
        if pick is None:
            expected = (
                "no_model"
                if not models
                else "no_active_model"
                if not any(m["is_active"] for m in models)
                else "no_active_provider"
            )
            assert errors[0].code == expected and "cannot be routed" in errors[0].message
        assert ("no_default" in codes) == (not defaults and pick is not None)
        for default in defaults:
            inactive = not default["is_active"]
            provider_off = default["is_active"] and not default["provider_active"]
            passed_over = rules.can_take_jobs(default) and pick["id"] != default["id"]
            said = [f for f in findings if f.subject == default["display_name"] and f.code.startswith("default")]
            assert bool(said) == (inactive or provider_off or passed_over) or len(defaults) > 1
        if len(defaults) == 1 and rules.can_take_jobs(defaults[0]):
            assert ("default_passed_over" in codes) == (pick["id"] != defaults[0]["id"])
        assert ("tie_at_top" in codes) == (rules.tie_at_top(ranked) is not None)
        assert [f.severity for f in findings] == sorted((f.severity for f in findings), key=rules.SEVERITY_ORDER.get)
        assert all(f.code in rules.FINDING_CODES for f in findings)


@pytest.mark.parametrize("seed", [10, 11])
def test_findings_of_the_relevant_models_are_the_findings_of_all(seed):
    """The slot list reads only routing_rules.relevant_models of each slot (queries.catalogue.SLOT_FACTS)."""
    for models in random_slots(seed):
        relevant = rules.relevant_models(models)
        assert len(relevant) <= 2 + sum(m["is_default"] for m in models)
        count = len(rules.candidates(models))
        assert rules.slot_findings("s", relevant, candidate_count=count) == rules.slot_findings("s", models)
        assert rules.pick(relevant) == rules.pick(models)


def test_a_tie_at_top_only_comes_with_another_finding_so_the_grid_cell_may_leave_it_out():
    for models in random_slots(12, count=2000):
        if sum(m["is_default"] for m in models) > 1:
            continue  # a broken catalogue
        codes = _codes(rules.slot_findings("s", models))
        if "tie_at_top" in codes:
            assert codes & {"no_default", "default_inactive", "default_provider_inactive", "default_passed_over"}


def _m(name, priority=1, *, default=False, active=True, provider_active=True, n=0):
    return {
        "id": UUID(int=n),
        "display_name": name,
        "priority": priority,
        "is_default": default,
        "is_active": active,
        "provider_active": provider_active,
        "provider_name": "Legacy",
        "modality": "image",
        "task": "generation",
    }


def test_each_finding_in_words():
    slot = "image/generation"
    said = lambda *models: [(f.severity, f.code, f.message) for f in rules.slot_findings(slot, models)]  # noqa: E731
    assert said() == [("error", "no_model", f"{slot} has no model: its jobs cannot be routed")]
    assert said(_m("A", active=False)) == [
        ("error", "no_active_model", f"{slot} has no active model: its jobs cannot be routed")
    ]
    assert said(_m("A", provider_active=False, default=True)) == [
        (
            "error",
            "no_active_provider",
            f"{slot}: every active model is on an inactive provider, so its jobs cannot be routed",
        ),
        ("warning", "default_provider_inactive", f"The default for {slot}, A, is on an inactive provider, Legacy"),
    ]
    assert said(_m("A"), _m("B", n=1)) == [
        ("warning", "no_default", f"{slot} has 2 active model(s) but no default"),
        (
            "warning",
            "tie_at_top",
            f"A and B share priority 1 at the top of {slot}: the seed's order leaves the tie "
            "open, so routing may pick either",
        ),
    ]
    assert said(_m("A"), _m("D", 5, default=True, n=1)) == [
        (
            "warning",
            "default_passed_over",
            f"Routing does not pick the default for {slot}, D: A comes first (a lower priority number, 1 < 5)",
        )
    ]
    assert said(_m("A"), _m("Old", default=True, active=False, n=1)) == [
        ("warning", "default_inactive", f"The default for {slot}, Old, is inactive")
    ]
    assert said(_m("Z", default=True), _m("A", n=1)) == []  # equal priority: the default comes first


def test_the_grid_cell_summarises_the_worst_finding():
    assert rules.slot_cell([_m("D", default=True), _m("A", 2, n=1)]) == "D · 2"
    assert rules.slot_cell([_m("A", active=False)]) == "⚠ no active model"
    assert rules.slot_cell([_m("A", provider_active=False)]) == "⚠ all providers off"
    assert rules.slot_cell([_m("A"), _m("B", n=1)]) == "⚠ no default · 2"
    assert rules.slot_cell([_m("A"), _m("Old", default=True, active=False, n=1)]) == "⚠ inactive: Old · 1"
    assert rules.slot_cell([_m("A"), _m("X", default=True, provider_active=False, n=1)]) == "⚠ provider off: X · 1"
    assert rules.slot_cell([_m("A"), _m("D", 5, default=True, n=1)]) == "⚠ passed over: D · 2"
    assert rules.slot_cell([_m(hostile.LINK, default=True)]) == f"{hostile.LINK} · 1"  # kept literally


@pytest.mark.parametrize("seed", [13])
def test_a_change_that_leaves_nothing_to_route_is_an_error_and_a_new_pick_is_named(seed):
    for before in random_slots(seed):
        after = [{**m, "is_active": m["is_active"] and random.Random(str(m["id"])).random() < 0.6} for m in before]
        impacts = rules.change_impact(before, after)
        was, now = rules.pick(before), rules.pick(after)
        assert any(i.severity == "error" for i in impacts) == (was is not None and now is None)
        if was is not None and now is not None and was["id"] != now["id"]:
            assert any(f"now routes to {now['display_name']}" in i.message for i in impacts)
        assert [i.severity for i in impacts] == sorted((i.severity for i in impacts), key=rules.SEVERITY_ORDER.get)


def test_making_a_default_that_routing_passes_over_is_a_warning():
    before = [_m("SDXL", 1, default=True), _m("Flux", 2, n=1)]
    after = rules.with_default(before, UUID(int=1))
    assert [i.message for i in rules.change_impact(before, after)] == [
        "The default for image/generation (Flux) is passed over: SDXL comes first (a lower priority number, 1 < 2)"
    ]
    assert rules.change_impact(before, before) == []


def test_name_ranks_follow_the_order_rows_came_in():
    rows = [{"display_name": "b"}, {"display_name": "a"}]
    assert [r["name_rank"] for r in rules.with_name_ranks(rows)] == [0, 1]
    assert rules.routing_key({**_m("b"), "name_rank": 0}) < rules.routing_key({**_m("a"), "name_rank": 1})
