"""Health's copies (dashboard/services/usage_spans.py) without a database: percentiles asked model by model equal
those worked out for every model at once, and a baseline nothing fresh touched is the kept sum itself."""

import math
import random
from datetime import UTC, datetime

import numpy as np
import pytest

from dashboard.queries import latency as lq
from dashboard.services import usage_spans


def _histograms(models: int, seed: int) -> np.ndarray:
    rng = random.Random(seed)
    rows = np.zeros((models, lq.COLUMNS), dtype=np.int64)
    for row in rows:
        shape = rng.choice(("empty", "one", "spread", "open", "negative"))
        if shape == "one":
            row[rng.randrange(lq.COLUMNS)] = 1
        elif shape == "spread":
            for _ in range(rng.randint(1, 40)):
                row[rng.randrange(lq.COLUMNS)] += rng.randint(1, 500)
        elif shape == "open":
            row[lq.OPEN_BUCKET] = rng.randint(1, 9)
            row[rng.randrange(lq.COLUMNS)] += 1
        elif shape == "negative":  # a bucket a fold took below zero counts as empty, as in the SQL
            row[rng.randrange(lq.COLUMNS)] = -3
            row[rng.randrange(lq.COLUMNS)] += 2
    return rows


@pytest.mark.parametrize("q", [0.5, 0.95, 1.0])
def test_percentiles_asked_one_by_one_equal_every_models_at_once(q):
    models = 3 * usage_spans._ONE_BY_ONE  # past the switch to every model at once
    durations = _histograms(models, seed=int(q * 100))
    ids = [f"m{i}" for i in range(models)]
    tally = usage_spans.Tally(tuple(ids), np.zeros((models, 5), dtype=np.int64), durations)
    expected = [None if math.isnan(v) else v for v in lq.percentiles(durations, q).tolist()]
    order = list(range(models))
    random.Random(7).shuffle(order)
    for i in order + order[:10]:  # and again: an answer kept is the same answer
        assert tally.percentile_of(q, ids[i]) == expected[i], ids[i]
    assert tally.percentile_of(q, "no such model") is None


def _parts(store, rows) -> usage_spans._Parts:
    parts = usage_spans._Parts(store.models)
    parts.add_counts(rows)
    return parts


def test_a_total_with_nothing_fresh_is_the_kept_sum_with_what_was_worked_out_of_it():
    store = usage_spans._Store()
    day = datetime(2026, 12, 1, tzinfo=UTC)
    keys = [("day", day, (None,) * 24, "v1")]
    pieces = {keys[0]: _parts(store, [("a", 3, 2, 1, 0, 0), ("b", 5, 5, 0, 1, 4)])}
    first = store.total(keys, pieces, usage_spans._Parts(store.models))
    assert first.counts_of("a") == (3, 2, 1, 0, 0) and not first.counts.flags.writeable
    assert store.total(keys, pieces, usage_spans._Parts(store.models)) is first  # its row index, percentiles kept
    fresh = store.total(keys, pieces, _parts(store, [("a", 1, 0, 1, 0, 0), ("c", 2, 2, 0, 0, 0)]))
    assert fresh is not first
    assert (fresh.counts_of("a"), fresh.counts_of("b"), fresh.counts_of("c")) == (
        (4, 2, 2, 0, 0),
        (5, 5, 0, 1, 4),
        (2, 2, 0, 0, 0),
    )
    assert first.counts_of("a") == (3, 2, 1, 0, 0) and first.counts_of("c") == (0, 0, 0, 0, 0)  # untouched
