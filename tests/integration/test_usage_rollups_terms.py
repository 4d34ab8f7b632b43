"""The plans coarse_terms makes for long ranges count every day of the range exactly once, and nothing else.

Pure: each plan is expanded into the days it adds and subtracts (a month stands for its days, all time for every
day there is) and compared with the range's own days, for ranges across month and year boundaries, open at
either end, inside one month, and with every cost of a month, so that every shape of plan is taken.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from dashboard.queries import usage as usage_queries
from dashboard.queries.usage import coarse_terms

FIRST_DAY = datetime(2025, 10, 1, tzinfo=UTC)  # the first day with jobs in these worlds
NOW = datetime(2026, 3, 9, 15, tzinfo=UTC)
LAST_DAY = NOW.replace(hour=0)
EVERY_DAY = [FIRST_DAY + timedelta(days=i) for i in range((LAST_DAY - FIRST_DAY).days + 1)]


def _counted(terms) -> Counter:
    """How many times each day with jobs is counted by the plan."""
    counted: Counter = Counter()
    for sign, kind, first, last in terms:
        for day in EVERY_DAY:
            inside = kind == "total" or (
                (first is None or day >= first) and (last is None or day < last)
                if kind == "daily"
                else (first is None or day.replace(day=1) >= first) and (last is None or day.replace(day=1) < last)
            )
            if inside:
                counted[day] += sign
    return +counted  # days counted zero times drop out (a negative count stays and fails the comparison)


def _expected(lo, hi) -> Counter:
    return Counter(day for day in EVERY_DAY if (lo is None or day >= lo) and (hi is None or day < hi))


def _days(*dates: tuple[int, int, int]) -> list[datetime]:
    return [datetime(y, m, d, tzinfo=UTC) for y, m, d in dates]


EDGES = [
    None,
    *_days(
        (2025, 9, 15),  # before any job
        (2025, 10, 1),
        (2025, 10, 31),
        (2025, 11, 1),
        (2025, 11, 17),
        (2025, 12, 31),
        (2026, 1, 1),  # a year boundary
        (2026, 1, 2),
        (2026, 2, 28),
        (2026, 3, 1),
        (2026, 3, 9),  # today
        (2026, 3, 10),
        (2026, 4, 20),  # after now
    ),
]


@pytest.mark.parametrize("month_cost", [1, 4, 30])
def test_every_plan_counts_each_day_of_the_range_once(monkeypatch, month_cost):
    monkeypatch.setattr(usage_queries, "MONTH_COST_IN_DAYS", month_cost)
    shapes = set()
    for lo in EDGES:
        for hi in EDGES:
            if lo is not None and hi is not None and lo >= hi:
                continue
            terms = coarse_terms(lo, hi, first_month=FIRST_DAY, now=NOW)
            assert _counted(terms) == _expected(lo, hi), (lo, hi, terms)
            shapes.add(tuple(sorted({(sign, kind) for sign, kind, *_ in terms})))
    assert len(shapes) >= 3, shapes  # not one plan for everything


def test_random_ranges_and_worlds():
    rng = random.Random(16)
    for _ in range(400):
        lo, hi = sorted(rng.sample(range(-40, 200), 2))
        start = None if rng.random() < 0.15 else FIRST_DAY + timedelta(days=lo)
        end = None if rng.random() < 0.15 else FIRST_DAY + timedelta(days=hi)
        first_month = rng.choice([None, FIRST_DAY, datetime(2024, 1, 1, tzinfo=UTC)])
        terms = coarse_terms(start, end, first_month=first_month, now=NOW)
        assert _counted(terms) == _expected(start, end), (start, end, first_month, terms)


def test_all_time_is_read_from_the_totals_alone_and_a_range_without_a_whole_day_reads_no_day():
    assert coarse_terms(None, None, first_month=FIRST_DAY, now=NOW) == [(1, "total", None, None)]
    moment = datetime(2026, 3, 2, 14, tzinfo=UTC)
    assert coarse_terms(moment, moment, first_month=FIRST_DAY, now=NOW) == []


def test_long_ranges_read_months_not_days():
    """The last 90 days and a range over whole months: months (or all time minus a little), a few days at most."""
    for lo, hi in [(datetime(2025, 12, 10, tzinfo=UTC), None), (FIRST_DAY, datetime(2026, 3, 1, tzinfo=UTC))]:
        terms = coarse_terms(lo, hi, first_month=FIRST_DAY, now=NOW)
        days = sum((min(b or NOW, NOW) - a).days for _, kind, a, b in terms if kind == "daily")
        assert days <= 15, terms
