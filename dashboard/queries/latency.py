"""How long completed jobs took, per model, from the latency rollups (migration 0017): fixed log-scale duration
buckets counted per hour and day of creation, so that p50 and p95 over any whole-hour range are exact to the bucket
and read without scanning jobs.

The edges and the bucket rule here are the database's too (dashboard.latency_bucket(), and the triggers' bodies
that install_usage_capture() writes from the same text); the tests hold the two equal.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping
from datetime import UTC, datetime

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from dashboard.queries.usage import READ_DELTA_TABLES, epoch, in_range, listed_ids, whole_days

_FIRST, _PER_DOUBLING, _EDGE_COUNT = -4, 4, 89  # edges 2^-4 s .. 2^18 s, four per doubling
# Upper edges in seconds, each a whole number of microseconds (as the database compares durations).
EDGES: tuple[float, ...] = tuple(
    round(2 ** (_FIRST + k / _PER_DOUBLING) * 1_000_000) / 1_000_000 for k in range(_EDGE_COUNT)
)
OPEN_BUCKET = len(EDGES)  # durations above the last edge, absurd ones included
PRECISION = (
    "to within 19%: durations are counted in fixed buckets, each 2^(1/4) times as wide as the one before "
    f"({EDGES[0]:g} s to {EDGES[-1]:,.0f} s), and a percentile is reported as its bucket's upper edge"
)


def bucket_of(seconds: float) -> int:
    """The bucket of a duration: the number of edges below it (0 for zero, negative or not a number)."""
    if math.isnan(seconds):
        return 0
    return bisect_left(EDGES, seconds)


def upper_edge(bucket: int) -> float | None:
    """The largest duration a bucket holds, in seconds; None for the open last bucket ("over EDGES[-1] s")."""
    if bucket >= OPEN_BUCKET:
        return None
    return EDGES[max(bucket, 0)]


COLUMNS = OPEN_BUCKET + 1  # a histogram row: jobs per bucket, 0 .. OPEN_BUCKET
_UPPER_EDGES = np.append(np.asarray(EDGES), np.inf)


def percentiles(histograms: np.ndarray, q: float) -> np.ndarray:
    """Per row of a (models x COLUMNS) array of jobs per bucket, the upper edge of the bucket holding the q-quantile
    (q in (0, 1]) of the row's jobs, as percentile_disc picks it: the ceil(q * n)-th shortest job, where n counts the
    buckets with more than 0 jobs. inf when that bucket is the open last one; nan for a row without jobs."""
    if not 0 < q <= 1:
        raise ValueError(f"q must be in (0, 1], not {q!r}")
    kept = np.maximum(histograms, 0)
    total = kept.sum(axis=1)
    rank = np.maximum(1, np.ceil(np.round(q * total, 9)))  # 0.95 * 20 is 19, not 19.000000000000004
    edges = _UPPER_EDGES[(kept.cumsum(axis=1) >= rank[:, None]).argmax(axis=1)]
    return np.where(total > 0, edges, np.nan)


def histogram(counts: Mapping[int, int]) -> np.ndarray:
    """One model's jobs per bucket as a histogram row (a bucket outside 0 .. OPEN_BUCKET counts as the nearest)."""
    row = np.zeros(COLUMNS, dtype=np.int64)
    for bucket, jobs in counts.items():
        row[min(max(int(bucket), 0), OPEN_BUCKET)] += jobs
    return row


def percentile(counts: Mapping[int, int], q: float) -> float | None:
    """percentiles() of one model's jobs per bucket: None without jobs."""
    value = float(percentiles(histogram(counts)[None, :], q)[0])
    return None if math.isnan(value) else value


LATENCY_BASIS = sa.text("select dashboard.latency_basis()")

_TZ = sa.DateTime(timezone=True)
_ID = UUID(as_uuid=True)


def _rollup(name: str) -> sa.TableClause:
    return sa.table(
        name,
        sa.column("bucket", _TZ),
        sa.column("api_model_id", _ID),
        sa.column("duration_bucket", sa.SmallInteger),
        sa.column("jobs", sa.BigInteger),
        schema="dashboard",
    )


_hourly = _rollup("job_latency_hourly")
_daily = _rollup("job_latency_daily")
_deltas = [
    sa.table(
        name,
        *(sa.column(c, _ID) for c in ("api_model_id", "old_api_model_id")),
        *(sa.column(c, _TZ) for c in ("created_at", "old_created_at")),
        *(sa.column(c, sa.SmallInteger) for c in ("duration_bucket", "old_duration_bucket")),
        sa.column("jobs", sa.BigInteger),
        schema="dashboard",
    )
    for name in READ_DELTA_TABLES
]


def latency_counts(start: datetime | None, end: datetime | None, *, only: list[str] | None = None) -> sa.Select:
    """Completed jobs per model and duration bucket, created in [start, end) (whole UTC hours; None: open), exact at
    this moment: whole days from the daily rollup, the hours at either edge from the hourly one, and the deltas not
    folded yet as their two sides. Rows (api_model_id as text, bucket, jobs), of the model ids listed or all.
    RLS: admins and the service role."""
    start, end = (None if t is None else t.astimezone(UTC) for t in (start, end))
    lo, hi = whole_days(start, end)
    d, h = _daily.c, _hourly.c
    parts: list[sa.Select] = [
        sa.select(d.api_model_id, d.duration_bucket, d.jobs).where(*in_range(d.bucket, lo, hi)),
        *(
            sa.select(h.api_model_id, h.duration_bucket, h.jobs).where(*in_range(h.bucket, first, last))
            for first, last in ((start, lo), (hi, end))
            if not (first is None and last is None) and first != last
        ),
    ]
    return _per_model_and_bucket([*parts, *_delta_parts(start, end)], only=only)


def latency_parts(rollup_from: datetime | None, deltas_from: datetime, end: datetime) -> sa.Select:
    """latency_counts' rows of a part of a range whose other parts are read elsewhere: the hourly rollup's rows of
    [rollup_from, end) (none when rollup_from is None) and the unfolded deltas of [deltas_from, end)."""
    h = _hourly.c
    rollup = (
        [sa.select(h.api_model_id, h.duration_bucket, h.jobs).where(*in_range(h.bucket, rollup_from, end))]
        if rollup_from is not None
        else []
    )
    return _per_model_and_bucket([*rollup, *_delta_parts(deltas_from, end)])


def latency_rows(grain: str, buckets: list[datetime]) -> sa.Select:
    """One row per bucket listed with rows in the hourly (grain "hour") or daily ("day") latency rollup: (bucket as
    Unix seconds, then arrays, one element per row: model id as text, duration bucket, jobs) (RLS: admins only).
    Arrays, as rollup_rows: 7 days of 10,000 busy models are 565,000 rows, 1.0-1.1 s to fetch as rows here and
    about 0.4 s as arrays."""
    r = (_hourly if grain == "hour" else _daily).c
    return (
        sa.select(
            epoch(r.bucket),
            sa.func.array_agg(sa.cast(r.api_model_id, sa.Text)),
            sa.func.array_agg(r.duration_bucket),
            sa.func.array_agg(r.jobs),
        )
        .where(r.bucket == sa.any_(sa.bindparam("buckets", buckets, type_=ARRAY(_TZ))))
        .group_by(r.bucket)
    )


def _delta_parts(start: datetime | None, end: datetime | None) -> list[sa.Select]:
    """The unfolded deltas of jobs created in [start, end) as (model, duration bucket, +jobs / -jobs) rows."""
    parts = []
    for x in (table.c for table in _deltas):
        parts.append(
            sa.select(x.api_model_id, x.duration_bucket, x.jobs).where(
                x.api_model_id.is_not(None), x.duration_bucket.is_not(None), *in_range(x.created_at, start, end)
            )
        )
        parts.append(
            sa.select(x.old_api_model_id, x.old_duration_bucket, -x.jobs).where(
                x.old_api_model_id.is_not(None),
                x.old_duration_bucket.is_not(None),
                *in_range(x.old_created_at, start, end),
            )
        )
    return parts


def _per_model_and_bucket(parts: list[sa.Select], *, only: list[str] | None = None) -> sa.Select:
    u = sa.union_all(*parts).subquery("u")
    model, bucket, jobs = u.c  # by position: the delta sides' names differ
    joined = u
    if only is not None:
        listed = listed_ids(only, "only_models")
        joined = u.join(listed, listed.c.id == model)
    jobs_sum = sa.func.sum(jobs)
    return (
        sa.select(
            sa.cast(model, sa.Text).label("api_model_id"),
            bucket.label("bucket"),
            jobs_sum.cast(sa.BigInteger).label("jobs"),
        )
        .select_from(joined)
        .group_by(model, bucket)
        .having(jobs_sum != 0)
        .order_by(model, bucket)
    )
