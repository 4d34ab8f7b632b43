"""Duration buckets and percentiles over them (dashboard/queries/latency.py), pure."""

from __future__ import annotations

import math
import random
import re
from decimal import Decimal

import pytest

from dashboard.queries import latency
from dashboard.queries.latency import EDGES, OPEN_BUCKET, bucket_of, percentile, upper_edge
from db.migrate import MIGRATIONS_DIR


def test_the_edges_are_the_migrations_to_the_microsecond():
    text = (MIGRATIONS_DIR / "0017_job_latency.sql").read_text(encoding="utf-8")
    literal = re.search(r"'\{([0-9.,\s]+)\}'::interval\[\]", text)
    assert literal is not None
    in_sql = [Decimal(v.strip()) for v in literal[1].split(",")]
    assert in_sql == [Decimal(f"{e:.6f}") for e in EDGES]
    assert f"then {OPEN_BUCKET}::smallint" in text


def test_the_edges_grow_by_a_fourth_root_of_two_from_a_sixteenth_of_a_second_to_three_days():
    assert (EDGES[0], EDGES[16], EDGES[-1], len(EDGES)) == (0.0625, 1.0, 262144.0, 89)
    ratios = [b / a for a, b in zip(EDGES, EDGES[1:], strict=False)]
    assert all(abs(r - 2**0.25) < 1e-5 for r in ratios)
    assert "19%" in latency.PRECISION


def test_a_bucket_holds_what_is_above_the_edge_below_and_up_to_its_own():
    for k, edge in enumerate(EDGES):
        assert bucket_of(edge) == k
        assert bucket_of(edge + 1e-6) == k + 1
        assert bucket_of(edge - 1e-6) == k  # above the edge below (they are more than a microsecond apart)
        assert upper_edge(k) == edge
    assert bucket_of(EDGES[-1] + 1e-6) == OPEN_BUCKET
    assert upper_edge(OPEN_BUCKET) is None


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [
        (0.0, 0),
        (-5.0, 0),  # clock skew
        (-1e300, 0),
        (float("-inf"), 0),
        (float("nan"), 0),
        (1e-9, 0),
        (1.0, 16),
        (1.000001, 17),
        (60.0, 40),
        (3600.0, 64),
        (10**11, OPEN_BUCKET),  # a completed_at in the year 9999
        (float("inf"), OPEN_BUCKET),
    ],
)
def test_hostile_and_ordinary_durations_fall_in_a_bucket(seconds, bucket):
    assert bucket_of(seconds) == bucket


def test_every_duration_is_at_most_its_buckets_edge_and_above_the_one_before():
    rng = random.Random(17)
    for _ in range(5000):
        seconds = round(10 ** rng.uniform(-3, 6), 6)
        k = bucket_of(seconds)
        assert (k == 0 or EDGES[k - 1] < seconds) and (k == OPEN_BUCKET or seconds <= EDGES[k])


def _disc(durations: list[float], q: float) -> float:
    """percentile_disc as PostgreSQL computes it: the ceil(q * n)-th value in order (1-based)."""
    ordered = sorted(durations)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


@pytest.mark.parametrize("q", [0.5, 0.95, 0.99, 1.0, 0.01, 0.1, 1 / 3])
def test_a_percentile_is_the_upper_edge_of_the_bucket_of_the_jobs_percentile(q):
    rng = random.Random(int(q * 1000))
    for n in (1, 2, 3, 19, 20, 21, 100, 1000):
        durations = [round(rng.lognormvariate(2, 1.5), 6) for _ in range(n)]
        counts: dict[int, int] = {}
        for d in durations:
            counts[bucket_of(d)] = counts.get(bucket_of(d), 0) + 1
        expected = upper_edge(bucket_of(_disc(durations, q)))
        assert percentile(counts, q) == (math.inf if expected is None else expected), (q, n)


def test_no_jobs_no_percentile_and_the_open_bucket_is_infinite():
    assert percentile({}, 0.5) is None
    assert percentile({3: 0, 5: -2}, 0.95) is None  # nothing counted (a sum of deltas may be zero)
    assert percentile({OPEN_BUCKET: 1}, 0.5) == math.inf
    assert percentile({0: 19, OPEN_BUCKET: 1}, 0.95) == EDGES[0]
    assert percentile({0: 19, OPEN_BUCKET: 1}, 1.0) == math.inf
    assert percentile({10: 10**15, 11: 1}, 0.5) == EDGES[10]  # counts beyond any real traffic


@pytest.mark.parametrize("q", [0, -0.5, 1.01, float("nan")])
def test_a_quantile_outside_zero_to_one_is_refused(q):
    with pytest.raises(ValueError):
        percentile({1: 1}, q)
