"""The traffic a routing change moves, and what it costs and how it fares: pure arithmetic (services/traffic.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dashboard.services.routing_rules import with_default
from dashboard.services.spend import cost_basis
from dashboard.services.traffic import CANNOT_ROUTE, NO_HISTORY, Counts, Traffic, estimate, window
from tests import hostile

USD_IMAGE = cost_basis({"billing_unit": "per_image", "per_image": 0.04, "currency": "USD"}, {})
USD_REQUEST = cost_basis({"billing_unit": "per_request", "per_request": 0.5, "currency": "USD"}, {})
EUR_REQUEST = cost_basis({"billing_unit": "per_request", "per_request": 1.0, "currency": "EUR"}, {})
TOKENS = cost_basis({"billing_unit": "per_1k_tokens", "per_1k_tokens": 0.01, "currency": "USD"}, {})


def model(id_: str, *, priority: int = 1, default: bool = False, active: bool = True, slot=("image", "generation")):
    return {
        "id": id_,
        "display_name": id_.upper(),
        "modality": slot[0],
        "task": slot[1],
        "priority": priority,
        "is_default": default,
        "is_active": active,
        "provider_active": True,
        "provider_name": "P",
    }


def off(m: dict) -> dict:
    return {**m, "is_active": False}


A, B, C = model("a", default=True), model("b", priority=2), model("c", priority=3)
COUNTS = {
    "a": Counts(jobs=70, completed=56, failed=14, rated=10, rating_sum=40),  # 20% failing, rating 4
    "b": Counts(jobs=14, completed=13, failed=1, rated=2, rating_sum=10),  # 1/14 failing, rating 5
    "c": Counts(jobs=7, completed=7, failed=0),  # 0% failing, no rating
}
COSTS = {"a": USD_IMAGE, "b": USD_REQUEST, "c": EUR_REQUEST}


def test_the_window_is_the_168_whole_hours_before_this_hour():
    start, end = window(datetime(2026, 3, 10, 14, 59, 59, tzinfo=UTC))
    assert (start, end) == (datetime(2026, 3, 3, 14, tzinfo=UTC), datetime(2026, 3, 10, 14, tzinfo=UTC))


def test_nothing_moves_when_routing_is_unchanged():
    traffic = estimate([A, B, C], [A, B, C], COUNTS, COSTS)
    assert traffic.moves == ()
    (slot,) = traffic.slots
    assert slot.jobs == 91 and slot.before == slot.after


def test_a_new_pick_takes_the_old_picks_jobs_and_the_others_keep_theirs():
    after = with_default([A, B, C], "b")
    after = [{**m, "priority": 1} if m["id"] == "b" else {**m, "priority": 2} for m in after]
    traffic = estimate([A, B, C], after, COUNTS, COSTS)
    (move,) = traffic.moves
    assert (move.slot, move.source, move.target, move.jobs) == ("image/generation", "A", "B", 70)
    assert move.per_day == 10
    slot = traffic.slots[0]
    # Spend counts completed jobs: A's 56 at 0.04, B's 13 at 0.5, C's 7 at 1 EUR, per day.
    assert slot.before.spend == {"USD": pytest.approx((56 * 0.04 + 13 * 0.5) / 7), "EUR": pytest.approx(1.0)}
    # After: A's completed jobs move with its jobs to B, at B's price.
    assert slot.after.spend == {"USD": pytest.approx((56 + 13) * 0.5 / 7), "EUR": pytest.approx(1.0)}
    # Failure rate: each receiving model's own rate, weighted by the jobs it takes.
    assert slot.before.failure_rate == pytest.approx((70 * 0.2 + 14 * (1 / 14) + 7 * 0) / 91)
    assert slot.after.failure_rate == pytest.approx((84 * (1 / 14) + 7 * 0) / 91)
    # Rating: C has none, so it is left out of the mix and named.
    assert slot.after.rating == pytest.approx(5.0) and slot.after.rating_unknown == ("C",)
    assert slot.before.rating == pytest.approx((70 * 4 + 14 * 5) / 84)


def test_deactivating_a_fallback_sends_its_jobs_to_the_pick():
    traffic = estimate([A, B, C], [A, off(B), C], COUNTS, COSTS)
    assert [(m.source, m.target, m.jobs) for m in traffic.moves] == [("B", "A", 14)]


def test_a_slot_left_without_a_model_cannot_route_its_jobs():
    traffic = estimate([A, B], [off(A), off(B)], COUNTS, COSTS)
    assert {(m.source, m.target, m.jobs) for m in traffic.moves} == {("A", CANNOT_ROUTE, 70), ("B", CANNOT_ROUTE, 14)}
    slot = traffic.slots[0]
    assert slot.after.unroutable == 84 and slot.after.spend == {} and slot.after.failure_rate is None
    assert slot.after.failure_unknown == ()  # nothing receives jobs: nothing to name


def test_a_deleted_or_moved_model_loses_its_jobs_to_its_old_slots_pick():
    moved = {**B, "modality": "video"}
    traffic = estimate([A, B, C], [A, moved], COUNTS, COSTS)
    assert sorted((m.source, m.target, m.jobs) for m in traffic.moves) == [("B", "A", 14), ("C", "A", 7)]
    assert [s.slot for s in traffic.slots] == ["image/generation", "video/generation"]
    assert traffic.slots[1].jobs == 0  # B's past jobs were for image/generation


def test_a_new_model_without_history_says_so_and_a_model_that_cannot_be_costed_is_named():
    new = model("n", priority=0)
    traffic = estimate([A, B], [A, B, new], COUNTS, {**COSTS, "n": TOKENS})
    slot = traffic.slots[0]
    assert [(m.source, m.target, m.jobs) for m in traffic.moves] == [("A", "N", 70)]
    assert slot.after.failure_unknown == ("N",) and slot.after.rating_unknown == ("N",)
    assert slot.after.uncostable == ("N",)  # named, not counted as zero
    assert slot.after.spend == {"USD": pytest.approx(13 * 0.5 / 7)}
    assert slot.after.failure_rate == pytest.approx(1 / 14)  # B alone has history


def test_jobs_of_a_model_that_cannot_take_them_today_already_go_to_the_pick():
    traffic = estimate([A, off(B)], [A, B], COUNTS, COSTS)  # B was off and had jobs from before
    assert traffic.moves == ()  # activating B does not take the pick's jobs
    assert traffic.slots[0].before.jobs_by_target == {"A": 84}


def test_a_slot_that_could_not_route_can_again():
    traffic = estimate([off(A)], [A], COUNTS, COSTS)
    assert [(m.source, m.target, m.jobs) for m in traffic.moves] == [(CANNOT_ROUTE, "A", 70)]


def test_zero_jobs_and_missing_counts_are_no_history_not_zero():
    traffic = estimate([A, B], [off(A), B], {}, {})
    slot = traffic.slots[0]
    assert slot.jobs == 0 and traffic.moves == ()
    assert slot.after.failure_rate is None and slot.after.describe_failure() == NO_HISTORY


def test_huge_counts_and_prices_do_not_break_the_arithmetic():
    huge = 2**62
    price = cost_basis({"billing_unit": "per_request", "per_request": 1e308, "currency": "USD"}, {})
    traffic = estimate([A, B], [off(A), B], {"a": Counts(huge, huge, 0)}, {"a": price, "b": price})
    assert traffic.moves[0].jobs == huge
    assert traffic.slots[0].after.spend["USD"] == float("inf")


@pytest.mark.parametrize("name", [hostile.FORMULA, hostile.LINK, hostile.CR_FORMULA, ""])
def test_odd_names_are_carried_as_they_are(name):
    odd = {**A, "display_name": name}
    traffic = estimate([odd, B], [off(odd), B], COUNTS, COSTS)
    assert traffic.moves[0].source == name


def test_lines_say_the_moves_spend_failure_and_rating():
    traffic = estimate([A, B, C], [off(A), B, C], COUNTS, {**COSTS, "b": TOKENS})
    text = "\n".join(traffic.lines())
    assert "10 jobs/day move from A to B" in text
    assert "B (cannot be costed)" in text
    assert "failure rate 16.5% -> 6.6%" in text


def test_lines_say_when_nothing_moves_or_there_are_no_figures():
    start, end = window(datetime(2026, 3, 10, 14, 5, tzinfo=UTC))
    quiet = estimate([A, B], [A, B], COUNTS, COSTS, start=start, end=end)
    assert quiet.lines() == [
        "traffic: no jobs move, from the last 7 days' jobs (2026-03-03 14:00 to 2026-03-10 14:00 UTC), per day"
    ]
    assert Traffic(note="for admins").lines() == ["traffic: for admins"]
