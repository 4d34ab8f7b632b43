"""Usage queries: jobs per model and per day, from the rollups (admins) or from jobs itself (anyone else).

Both sources yield the same columns (api_model_id, status, day, jobs, rated, rating_sum), so every
aggregate below is written once and reads either.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from dashboard.queries.tables import api_models, api_providers, id_array, jobs
from db.live import RECOUNT

_TZ = sa.DateTime(timezone=True)


def _rollup(name: str) -> sa.TableClause:
    return sa.table(
        name,
        sa.column("bucket", _TZ),
        sa.column("api_model_id", UUID(as_uuid=True)),
        sa.column("status", sa.Text),
        sa.column("jobs", sa.BigInteger),
        sa.column("rated", sa.BigInteger),
        sa.column("rating_sum", sa.BigInteger),
        schema="dashboard",
    )


_daily = _rollup("job_usage_daily")
_hourly = _rollup("job_usage_hourly")
_monthly = _rollup("job_usage_monthly")  # whole UTC months (migration 0016)


def _totals_table(name: str, key: str, key_type) -> sa.TableClause:
    return sa.table(
        name,
        sa.column(key, key_type),
        sa.column("status", sa.Text),
        sa.column("jobs", sa.BigInteger),
        sa.column("rated", sa.BigInteger),
        sa.column("rating_sum", sa.BigInteger),
        schema="dashboard",
    )


_total = _totals_table("job_usage_total", "api_model_id", UUID(as_uuid=True))  # per model and status, all time
_day_totals = _totals_table("job_usage_day_totals", "bucket", _TZ)  # per day and status, every model


def _delta(name: str) -> sa.TableClause:
    return sa.table(
        name,
        sa.column("api_model_id", UUID(as_uuid=True)),
        sa.column("status", sa.Text),
        sa.column("created_at", _TZ),
        sa.column("quality_rating", sa.Integer),
        sa.column("old_api_model_id", UUID(as_uuid=True)),
        sa.column("old_status", sa.Text),
        sa.column("old_created_at", _TZ),
        sa.column("old_quality_rating", sa.Integer),
        sa.column("jobs", sa.BigInteger),  # how many jobs the row stands for (a statement's, since 0015)
        schema="dashboard",
    )


# The two delta tables the triggers take turns writing (migration 0013); a fold truncates the one it folded.
DELTA_TABLES = ("job_usage_delta", "job_usage_delta_1")
# What every read adds to the rollups as deltas: those two, and the deltas no fold can put in an hour (a side with no
# created_at or no status, migration 0022), held apart and never folded.
READ_DELTA_TABLES = (*DELTA_TABLES, "job_usage_held")
_deltas = [_delta(name) for name in READ_DELTA_TABLES]
# Taken before a snapshot that reads the rollups and the deltas in more than one statement (acting_as's lock): a fold
# truncates what it folded, and a snapshot from before it would see those rows in neither. Writers are not held up
# (they take ROW EXCLUSIVE), and neither is a fold (it folds beside such a read, migration 0024) until it comes to
# truncate what it folded: then it waits for such a read 200 ms at most, and deletes the rows instead.
LOCK_DELTAS = sa.text("lock table dashboard.job_usage_delta, dashboard.job_usage_delta_1 in access share mode")


def _day(column):
    return sa.func.date_trunc("day", column, "UTC")


def whole_days(start: datetime | None, end: datetime | None) -> tuple[datetime | None, datetime | None]:
    """The first and the end of the last whole UTC day inside [start, end) (lo == hi when there is none)."""
    lo = start if start is None or start == start.replace(hour=0) else start.replace(hour=0) + timedelta(days=1)
    hi = end if end is None else end.replace(hour=0)
    if lo is not None and end is not None:
        lo = min(lo, end)
    if hi is not None and lo is not None:
        hi = max(hi, lo)
    return lo, hi


def in_range(column, lo: datetime | None, hi: datetime | None) -> list:
    """column >= lo and column < hi, each only when given."""
    return [*([column >= lo] if lo is not None else []), *([column < hi] if hi is not None else [])]


# An edge of a range (its hours before its first whole day, or after its last) longer than this is read as its whole
# day less the hours of that day outside the range: just after midnight, the last 24 hours' first edge is 23 hours,
# 230,000 hourly rows at 10,000 models, where the day and the one hour outside it are 20,000.
EDGE_AS_DAY_HOURS = 12


def edge_parts(first: datetime, last: datetime, *, by_day: bool) -> list[sa.Select]:
    """The rollup rows of jobs created in [first, last), whole hours within one UTC day: (model, status, day (the
    UTC day, or null when not by_day), jobs, rated, rating_sum), some counting negatively. Up to EDGE_AS_DAY_HOURS,
    the hourly rollup's rows of those hours; past it, the daily rollup's row of that day less the hourly rollup's
    rows of its hours outside [first, last)."""
    h, d = _hourly.c, _daily.c
    no_day = sa.null().cast(_TZ).label("day")

    def hours(lo: datetime, hi: datetime, sign: int) -> sa.Select:
        counts = (h.jobs, h.rated, h.rating_sum) if sign > 0 else (-h.jobs, -h.rated, -h.rating_sum)
        day = _day(h.bucket).label("day") if by_day else no_day
        return sa.select(h.api_model_id, h.status, day, *counts).where(*in_range(h.bucket, lo, hi))

    if last - first <= timedelta(hours=EDGE_AS_DAY_HOURS):
        return [hours(first, last, 1)]
    day = first.replace(hour=0, minute=0, second=0, microsecond=0)
    whole = sa.select(
        d.api_model_id, d.status, d.bucket.label("day") if by_day else no_day, d.jobs, d.rated, d.rating_sum
    )
    parts = [whole.where(d.bucket == day)]
    if first > day:
        parts.append(hours(day, first, -1))
    if last < day + timedelta(days=1):
        parts.append(hours(last, day + timedelta(days=1), -1))
    return parts


def _edges(start: datetime | None, lo: datetime | None, hi: datetime | None, end: datetime | None, *, by_day: bool):
    """edge_parts of a range's two edges, [start, lo) and [hi, end), where there are any."""
    return [
        part
        for first, last in ((start, lo), (hi, end))
        if first is not None and last is not None and first != last
        for part in edge_parts(first, last, by_day=by_day)
    ]


def rollup_source(start: datetime | None, end: datetime | None) -> sa.FromClause:
    """Rollups plus unfolded deltas, exact at this moment (RLS: admins only), for jobs created in [start, end).

    Whole UTC days come from the daily rollup, the hours at either edge from the hourly one, and the deltas
    not folded yet as their two sides (the jobs as written, +jobs; as they were, -jobs). start and end are whole hours
    (UTC; None for an open end). The day bounds are worked out here, so the planner sees every range as
    constants and reads each rollup by its index.
    """
    start, end = (None if t is None else t.astimezone(UTC) for t in (start, end))
    lo, hi = whole_days(start, end)
    d = _daily.c
    daily = sa.select(d.api_model_id, d.status, d.bucket.label("day"), d.jobs, d.rated, d.rating_sum)
    edges = _edges(start, lo, hi, end, by_day=True)
    sides = [side for table in _deltas for side in _delta_sides(table.c, start, end)]
    return sa.union_all(daily.where(*in_range(d.bucket, lo, hi)), *edges, *sides).subquery("u")


def _delta_sides(x, start: datetime | None, end: datetime | None, *, grain: str = "day") -> list[sa.Select]:
    """A delta table's rows as the jobs as written (+jobs) and as they were (-jobs), each only with a model; their
    creation time truncated to the day (or the hour)."""
    new_side = sa.select(
        x.api_model_id,
        x.status,
        sa.func.date_trunc(grain, x.created_at, "UTC").label("day"),
        x.jobs,
        sa.case((x.quality_rating.is_(None), 0), else_=x.jobs).label("rated"),
        (sa.func.coalesce(x.quality_rating, 0) * x.jobs).cast(sa.BigInteger).label("rating_sum"),
    ).where(x.api_model_id.is_not(None), *in_range(x.created_at, start, end))
    old_side = sa.select(
        x.old_api_model_id,
        x.old_status,
        sa.func.date_trunc(grain, x.old_created_at, "UTC"),
        -x.jobs,
        sa.case((x.old_quality_rating.is_(None), 0), else_=-x.jobs),
        (-sa.func.coalesce(x.old_quality_rating, 0) * x.jobs).cast(sa.BigInteger),
    ).where(x.old_api_model_id.is_not(None), *in_range(x.old_created_at, start, end))
    return [new_side, old_side]


def hourly_source(start: datetime, end: datetime, *, deltas_from: datetime | None = None) -> sa.FromClause:
    """rollup_source's rows at the grain of an hour (day holds the hour), for a short range: the hourly rollup plus
    the unfolded deltas, exact at this moment (RLS: admins only), for jobs created in [start, end). deltas_from:
    the deltas from there instead (the hours before start being read from the rollup elsewhere)."""
    h = _hourly.c
    hours = sa.select(h.api_model_id, h.status, h.bucket.label("day"), h.jobs, h.rated, h.rating_sum)
    first = start if deltas_from is None else deltas_from
    sides = [side for table in _deltas for side in _delta_sides(table.c, first, end, grain="hour")]
    return sa.union_all(hours.where(*in_range(h.bucket, start, end)), *sides).subquery("hours")


def delta_source(start: datetime | None, end: datetime | None, *, grain: str = "hour") -> sa.FromClause:
    """The unfolded deltas alone, as rollup_source's rows at the grain of an hour (or a day), for jobs created in
    [start, end) (None: open): what a copy of the rollups kept from an earlier read lacks (RLS: admins only)."""
    sides = [side for table in _deltas for side in _delta_sides(table.c, start, end, grain=grain)]
    return sa.union_all(*sides).subquery("deltas")


def rollup_rows(grain: str, buckets: list[datetime]) -> sa.Select:
    """One row per bucket listed with rows in the hourly (grain "hour") or daily ("day") rollup: (bucket as Unix
    seconds, then arrays, one element per model: model id as text, total, completed, failed, rated, rating_sum)
    (RLS: admins only). Arrays, not a row per model: 7 days of 10,000 busy models are 60,000 rows, which cost more to
    fetch and sort out in Python than to add up."""
    r = (_hourly if grain == "hour" else _daily).c
    per_model = (
        sa.select(r.bucket, sa.cast(r.api_model_id, sa.Text).label("model"), *_sums(r))
        .where(r.bucket == sa.any_(sa.bindparam("buckets", buckets, type_=ARRAY(_TZ))))
        .group_by(r.bucket, r.api_model_id)
        .subquery()
    )
    bucket, *columns = per_model.c
    return sa.select(epoch(bucket), *(sa.func.array_agg(c) for c in columns)).group_by(bucket)


# Migration 0020: per hour of creation, the version of the last fold that changed its rollups; '-infinity' (read as
# hour null): the version of the last change of any other kind, which every hour's copy depends on too.
_changes = sa.table("job_usage_changes", sa.column("hour", _TZ), sa.column("version", UUID), schema="dashboard")


# Which database, since when: a copy kept of it is of this database only (a database dropped and created again under
# the same name has another oid; one restored from a backup, another server start).
DATABASE_IDENTITY = sa.text(
    "select d.oid::bigint, pg_catalog.pg_postmaster_start_time() from pg_catalog.pg_database d "
    "where d.datname = pg_catalog.current_database()"
)


def changes(lo: datetime, hi: datetime) -> sa.Select:
    """(hour, version) of the hours in [lo, hi) that a fold changed, and (null, version) for every hour (RLS: admins
    only: no row at all for anyone else)."""
    c = _changes.c
    everything = c.hour == sa.cast(sa.literal("-infinity"), _TZ)
    return sa.select(sa.case((everything, None), else_=c.hour), c.version).where(
        sa.or_(everything, sa.and_(*in_range(c.hour, lo, hi)))
    )


def changes_digest(lo: datetime | None, hi: datetime) -> sa.Select:
    """(whether the every-hour version is there, one digest of it and of the versions of the hours in [lo, hi) (lo
    None: every hour before hi)): equal digests, equal rollups for those hours. RLS: admins only (false for anyone
    else). The digest is how many versions there are and the sum of their 64-bit hashes, as text: a version renewed
    or an hour added changes it (versions are random). Over three years of hours (26,000 versions) it takes 4 ms,
    where an md5 of them all in order took 13."""
    c = _changes.c
    everything = c.hour == sa.cast(sa.literal("-infinity"), _TZ)
    hashes = sa.func.sum(sa.func.uuid_hash_extended(c.version, sa.literal(0, sa.BigInteger)))
    digest = sa.func.concat(sa.func.count(), sa.literal(":"), hashes)
    return sa.select(sa.func.coalesce(sa.func.bool_or(everything), False), digest).where(
        sa.or_(everything, sa.and_(*in_range(c.hour, lo, hi)))
    )


def epoch(column) -> sa.ColumnElement:
    """A timestamp as whole Unix seconds (a bigint: cheaper to send and compare than a timestamp)."""
    return sa.cast(sa.extract("epoch", column), sa.BigInteger)


def model_parts(source: sa.FromClause) -> sa.Select:
    """model_counts' figures of a part of a range (the other parts read elsewhere): every model with a row, a zero
    total included (a job moved from completed to failed is 0 jobs, +1 failed, -1 completed)."""
    u = source.c
    return sa.select(sa.cast(u.api_model_id, sa.Text), *_sums(u)).group_by(u.api_model_id)


# The ids (as text) of every model the reader sees, under RLS.
VISIBLE_MODEL_IDS = sa.select(sa.cast(api_models.c.id, sa.Text))

SUM_NAMES = (  # model_counts' figures, after the model id
    "total_jobs",
    "completed_jobs",
    "failed_jobs",
    "rated_jobs",
    "rating_sum",
)


def _sums(u, *, zero: bool = True) -> list:
    """The per-model figures every count reads: total, completed, failed, rated, rating_sum (zero: 0, not null,
    where there is nothing to add up)."""
    jobs = sa.func.sum(u.jobs)
    sums = (
        jobs,
        jobs.filter(u.status == "completed"),
        jobs.filter(u.status == "failed"),
        sa.func.sum(u.rated),
        sa.func.sum(u.rating_sum),
    )
    return [(sa.func.coalesce(total, 0) if zero else total).cast(sa.BigInteger) for total in sums]


# ─── Per-model totals over long ranges: months and all time (migration 0016) ────────────────────────
# A month of the monthly rollup costs about this many days of the daily one to read: 1 when every model works
# every day, up to ~30 when each works once a month; 4.6 with 1M jobs spread over 10,000 models and 90 days.
MONTH_COST_IN_DAYS = 4
Term = tuple[int, str, datetime | None, datetime | None]  # (sign, "daily" | "monthly" | "total", from, to)


def _month(t: datetime) -> datetime:
    return t.replace(day=1, hour=0)


def _next_month(t: datetime) -> datetime:
    return (t.replace(day=28) + timedelta(days=4)).replace(day=1, hour=0)


def _month_up(t: datetime) -> datetime:
    return t if _month(t) == t else _next_month(_month(t))


def coarse_terms(
    lo: datetime | None, hi: datetime | None, *, first_month: datetime | None, now: datetime
) -> list[Term]:
    """Whole UTC days [lo, hi) (None: open) as signed sums of daily, monthly and all-time rollup ranges, the
    plan that reads the fewest rows by estimate: days at the edges (or their month minus the rest of it),
    months in between, or all time minus what lies outside. first_month: the monthly rollup's first bucket."""
    this_month = _month(now)
    tomorrow = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)

    def cost(terms: list[Term]) -> float:
        total = 0.0
        for _, kind, a, b in terms:
            if kind == "total":
                total += MONTH_COST_IN_DAYS
            elif kind == "daily":
                total += max(0, (min(b or tomorrow, tomorrow) - a).days)
            elif first_month is not None:
                a, b = max(a or first_month, first_month), min(b or _next_month(this_month), _next_month(this_month))
                months = max(0, (b.year - a.year) * 12 + b.month - a.month)
                if months and b > this_month:  # this month so far: as many days as it has had, at most
                    months -= 1
                    total += min(MONTH_COST_IN_DAYS, (now - this_month).days + 1)
                total += MONTH_COST_IN_DAYS * months
        return total

    def cheapest(*plans: list[Term]) -> list[Term]:
        return min(plans, key=cost)

    def neg(terms: list[Term]) -> list[Term]:
        return [(-sign, kind, a, b) for sign, kind, a, b in terms]

    def forward(lo: datetime | None, hi: datetime | None) -> list[Term]:
        if lo is None and hi is None:
            return [(1, "total", None, None)]
        first = _month_up(lo) if lo is not None else None
        last = _month(hi) if hi is not None else None
        if first is not None and last is not None and first > last:  # inside one month
            m = _month(lo)
            inside = [(1, "daily", lo, hi)]
            around = [(1, "monthly", m, first), (-1, "daily", m, lo), (-1, "daily", hi, first)]
            return cheapest(inside, [t for t in around if t[2] != t[3]])
        terms: list[Term] = [] if first is not None and first == last else [(1, "monthly", first, last)]
        if lo is not None and lo != first:
            terms += cheapest(
                [(1, "daily", lo, first)], [(1, "monthly", _month(lo), first), (-1, "daily", _month(lo), lo)]
            )
        if hi is not None and hi != last:
            after = _next_month(last)
            terms += cheapest([(1, "daily", last, hi)], [(1, "monthly", last, after), (-1, "daily", hi, after)])
        return terms

    if lo is not None and lo == hi:  # no whole day (then lo need not be a midnight)
        return []
    plans = [forward(lo, hi)]
    if hi is None and lo is not None:
        plans.append([(1, "daily", lo, None)])
    if lo is not None or hi is not None:  # all time minus what is before lo and after hi
        outside = [(1, "total", None, None)]
        if lo is not None:
            outside += neg(forward(None, lo))
        if hi is not None:
            outside += neg(forward(hi, None))
        plans.append(outside)
    return cheapest(*plans)


def model_totals_source(
    start: datetime | None,
    end: datetime | None,
    *,
    first_month: datetime | None = None,
    now: datetime | None = None,
    deltas: bool = True,
) -> sa.FromClause:
    """Per-model rows for jobs created in [start, end), exact at this moment (RLS: admins only), for totals per
    model only: day is null, and some rows count negatively (all time minus what lies outside, a month minus
    the days of it outside). Whole days come from the monthly, daily and all-time rollups as coarse_terms
    plans them; the hours at either edge and the unfolded deltas as in rollup_source (deltas=False: the rollups
    alone)."""
    start, end = (None if t is None else t.astimezone(UTC) for t in (start, end))
    now = (now or datetime.now(UTC)).astimezone(UTC)
    lo, hi = whole_days(start, end)
    no_day = sa.null().cast(_TZ).label("day")
    parts: list[sa.Select] = []
    for sign, kind, a, b in coarse_terms(lo, hi, first_month=first_month, now=now):
        table = {"total": _total, "monthly": _monthly, "daily": _daily}[kind]
        c = table.c
        columns = [c.jobs, c.rated, c.rating_sum] if sign > 0 else [-c.jobs, -c.rated, -c.rating_sum]
        select = sa.select(c.api_model_id, c.status, no_day, *columns)
        parts.append(select if kind == "total" else select.where(*in_range(c.bucket, a, b)))
    parts += _edges(start, lo, hi, end, by_day=False)
    if deltas:
        parts += [side for table in _deltas for side in _delta_sides(table.c, start, end)]
    return sa.union_all(*parts).subquery("u")


SHORT_RANGE_DAYS = 3  # up to this many whole days, the models' own days cost less than subtracting from totals
# Read model by model from the index alone (0019's job_usage_daily_model_counts_idx), a listed model's day costs
# about a row of a range scan (0.17 against 0.2 µs at 10M jobs), so listing wins for any list shorter than the models
# with jobs: at 10M jobs spread over 10,000 models, 4,000 listed models' days over 90 days take 262 ms, against 517
# ms for the scan (500 models: 35 against 284 ms). Past this many listed, day_counts over rollup_source (one scan
# of the range) is read instead.
BY_MODEL_MAX = 5_000


def _days_of(listed: sa.TableValuedAlias, lo: datetime | None, hi: datetime | None, *, sign: int) -> sa.Select:
    """The daily rollup's rows in [lo, hi) of each model listed, read model by model (job_usage_daily_model_counts_idx),
    counted with sign: given a plain join, the planner scans and sorts the whole range instead."""
    d = _daily.c
    days = (
        sa.select(d.bucket, d.status, d.jobs, d.rated, d.rating_sum)
        .where(d.api_model_id == listed.c.id, *in_range(d.bucket, lo, hi))
        .offset(0)  # kept a subquery (not flattened into a join), so read once per model by its index
        .lateral("model_days")
    )
    c = days.c
    return sa.select(c.bucket, c.status, sign * c.jobs, sign * c.rated, sign * c.rating_sum).select_from(
        listed.join(days, sa.true())
    )


def day_counts_from_totals(
    start: datetime | None,
    end: datetime | None,
    *,
    only: list[str] | None = None,
    without: list[str] | None = None,
    now: datetime | None = None,
    deltas: bool = True,
) -> sa.Select:
    """day_counts(rollup_source(start, end), only=only, without=without): the same rows (RLS: admins only), with
    whole days read from the per-day totals of every model minus the days of the models left out (without), not
    from every model's days; the days of the models listed (only), or of every model over a short range, by model.
    The hours at either edge and the unfolded deltas are read per model, as in rollup_source. Ids as text. More
    than BY_MODEL_MAX models listed: day_counts over rollup_source itself.

    deltas=False: the rollups alone (services/usage_past.py reads the deltas apart); not with more than BY_MODEL_MAX
    models listed."""
    listed = only if only is not None else without
    if listed is not None and len(listed) > BY_MODEL_MAX:
        if not deltas:
            raise ValueError(f"deltas=False is for at most {BY_MODEL_MAX:,} models listed")
        return day_counts(rollup_source(start, end), only=only, without=without)
    start, end = (None if t is None else t.astimezone(UTC) for t in (start, end))
    lo, hi = whole_days(start, end)
    d, t = _daily.c, _day_totals.c
    totals: list[sa.Select] = []
    per_model: list[sa.Select] = _edges(start, lo, hi, end, by_day=True)
    if deltas:
        per_model += [side for table in _deltas for side in _delta_sides(table.c, start, end)]
    if not (lo is not None and lo == hi):
        today = (now or datetime.now(UTC)).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        upto = today + timedelta(days=1)
        short = lo is not None and (min(hi or upto, upto) - lo).days <= SHORT_RANGE_DAYS
        if only is not None:
            totals.append(_days_of(listed_ids(only, "only_days"), lo, hi, sign=1))
        elif short:
            per_model.append(
                sa.select(d.api_model_id, d.status, d.bucket, d.jobs, d.rated, d.rating_sum).where(
                    *in_range(d.bucket, lo, hi)
                )
            )
        else:
            totals.append(
                sa.select(t.bucket, t.status, t.jobs, t.rated, t.rating_sum).where(*in_range(t.bucket, lo, hi))
            )
            if without:
                totals.append(_days_of(listed_ids(without, "without_days"), lo, hi, sign=-1))
    if per_model:
        e = sa.union_all(*per_model).subquery("e")
        model, status, day, jobs, rated, rating_sum = e.c  # by position: the delta sides' names differ
        joined, left_out = e, []
        if only is not None:
            listed = listed_ids(only, "only_models")
            joined = joined.join(listed, listed.c.id == model)
        if without is not None:
            listed = listed_ids(without, "without_models")
            joined, left_out = joined.outerjoin(listed, listed.c.id == model), [listed.c.id.is_(None)]
        totals.append(sa.select(day, status, jobs, rated, rating_sum).select_from(joined).where(*left_out))
    if not totals:
        totals.append(sa.select(t.bucket, t.status, t.jobs, t.rated, t.rating_sum).where(sa.false()))
    u = sa.union_all(*totals).subquery("u")
    day, status, jobs, rated, rating_sum = u.c
    jobs_sum = sa.func.sum(jobs)
    return (
        sa.select(
            day.label("day"),
            status.label("status"),
            jobs_sum.cast(sa.BigInteger).label("jobs"),
            sa.func.sum(rated).cast(sa.BigInteger).label("rated_jobs"),
            sa.func.sum(rating_sum).cast(sa.BigInteger).label("rating_sum"),
        )
        .group_by(day, status)
        .having(jobs_sum != 0)
        .order_by(day, status)
    )


def from_jobs_source(start: datetime | None, end: datetime | None, *, by_day: bool = True) -> sa.FromClause:
    """The same rows counted from jobs by dashboard.job_usage_from_jobs() (admins; costs what the seed's query
    costs): read when the delta backlog is too large to read with the rollups. Without by_day, day is null and rows
    are per model and status only, as the seed's query groups them."""
    start, end = (None if t is None else t.astimezone(UTC) for t in (start, end))
    return (
        sa.func.dashboard.job_usage_from_jobs(sa.literal(start, _TZ), sa.literal(end, _TZ), sa.literal(by_day))
        .table_valued(
            sa.column("api_model_id", UUID(as_uuid=True)),
            sa.column("status", sa.Text),
            sa.column("day", _TZ),
            sa.column("jobs", sa.BigInteger),
            sa.column("rated", sa.BigInteger),
            sa.column("rating_sum", sa.BigInteger),
        )
        .alias("u")
    )


def jobs_source(start: datetime | None, end: datetime | None) -> sa.FromClause:
    """The same rows counted from jobs one by one, under the reader's RLS (their own jobs)."""
    j = jobs.c
    # Read through the row as JSON: a live jobs table may have no quality_rating (the average is then empty).
    rating = sa.cast(sa.func.to_jsonb(sa.literal_column("jobs")).op("->>")("quality_rating"), sa.Integer)
    conditions = [j.api_model_id.is_not(None)]
    if start:
        conditions.append(j.created_at >= start)
    if end:
        conditions.append(j.created_at < end)
    return (
        sa.select(
            j.api_model_id,
            sa.cast(j.status, sa.Text).label("status"),  # an enum on many live projects
            sa.func.date_trunc("day", j.created_at, "UTC").label("day"),
            sa.literal(1, sa.BigInteger).label("jobs"),
            sa.case((rating.is_not(None), 1), else_=0).label("rated"),
            sa.func.coalesce(rating, 0).label("rating_sum"),
        )
        .where(*conditions)
        .subquery("u")
    )


def model_conditions(
    *,
    provider_id=None,
    modality: str | None = None,
    task: str | None = None,
    model_id=None,
    active_only: bool = True,
) -> list[sa.ColumnElement[bool]]:
    m = api_models.c
    conditions = []
    if active_only:
        conditions.append(m.is_active.is_(True))
    if provider_id:
        conditions.append(m.provider_id == provider_id)
    if modality:
        conditions.append(m.modality == modality)
    if task:
        conditions.append(m.task == task)
    if model_id:
        conditions.append(m.id == model_id)
    return conditions


def by_model(source: sa.FromClause, conditions: list) -> sa.Select:
    """The seed's usage query, per model, over the source's rows; plus what grouping and spend need."""
    u, m, p = source.c, api_models.c, api_providers.c
    per_model = (
        sa.select(
            u.api_model_id,
            sa.func.sum(u.jobs).label("total"),
            sa.func.sum(u.jobs).filter(u.status == "completed").label("completed"),
            sa.func.sum(u.jobs).filter(u.status == "failed").label("failed"),
            sa.func.sum(u.rated).label("rated"),
            sa.func.sum(u.rating_sum).label("rating_sum"),
        )
        .group_by(u.api_model_id)
        .subquery("pm")
    )
    pm = per_model.c
    total = sa.func.coalesce(pm.total, 0).cast(sa.BigInteger)
    return (
        sa.select(
            m.id.label("model_id"),
            m.display_name,
            m.modality,
            m.task,
            p.name.label("provider_name"),
            m.is_active,
            total.label("total_jobs"),
            sa.func.coalesce(pm.completed, 0).cast(sa.BigInteger).label("completed_jobs"),
            sa.func.coalesce(pm.failed, 0).cast(sa.BigInteger).label("failed_jobs"),
            # AVG(smallint) is sum::numeric / count::numeric: the same division gives the same digits.
            (sa.cast(pm.rating_sum, sa.Numeric) / sa.func.nullif(sa.cast(pm.rated, sa.Numeric), 0)).label(
                "avg_quality_rating"
            ),
            sa.func.coalesce(pm.rated, 0).cast(sa.BigInteger).label("rated_jobs"),
            sa.func.coalesce(pm.rating_sum, 0).cast(sa.BigInteger).label("rating_sum"),
            m.pricing,
            m.input_defaults,
        )
        .select_from(
            api_models.join(api_providers, m.provider_id == p.id).outerjoin(per_model, pm.api_model_id == m.id)
        )
        .where(*conditions)
        .order_by(total.desc(), m.display_name, m.id)
    )


def _per_day(u, joined: sa.FromClause, conditions: list, *, partial: bool = False) -> sa.Select:
    """Jobs per day (UTC) and status, with ratings, over the rows of joined that the conditions keep."""
    jobs_sum = sa.func.sum(u.jobs)
    return (
        sa.select(
            u.day,
            u.status,
            jobs_sum.cast(sa.BigInteger).label("jobs"),
            sa.func.sum(u.rated).cast(sa.BigInteger).label("rated_jobs"),
            sa.func.sum(u.rating_sum).cast(sa.BigInteger).label("rating_sum"),
        )
        .select_from(joined)
        .where(*conditions)
        .group_by(u.day, u.status)
        .having(sa.true() if partial else jobs_sum != 0)
        .order_by(u.day, u.status)
    )


def by_day(source: sa.FromClause, conditions: list) -> sa.Select:
    """Jobs per day (UTC) and status over the source's rows, for the models the conditions select."""
    u, m = source.c, api_models.c
    return _per_day(u, source.join(api_models, m.id == u.api_model_id), conditions)


# The input defaults a job's units come from (services/spend.py); the rest of the document is not needed to cost.
SPEND_DEFAULTS = ("num_outputs", "num_images", "duration")


def usage_catalogue(conditions: list | None = None, *, spend_defaults_only: bool = False) -> sa.Select:
    """The models' side of the usage report, the models the conditions keep (all the reader may see, under RLS,
    without): what names, filters and spend need, ids as text. The page reads it once per catalogue version.

    spend_defaults_only: input_defaults holds only the SPEND_DEFAULTS keys it has (less JSON to send and decode; a
    value that is not an object reads as {}, as spend treats it)."""
    m, p = api_models.c, api_providers.c
    defaults = m.input_defaults
    if spend_defaults_only:
        pairs = [part for key in SPEND_DEFAULTS for part in (sa.literal(key), m.input_defaults.op("->")(key))]
        defaults = sa.func.jsonb_strip_nulls(sa.func.jsonb_build_object(*pairs), type_=m.input_defaults.type)
    return (
        sa.select(
            sa.cast(m.id, sa.Text).label("model_id"),
            m.display_name,
            m.modality,
            m.task,
            p.name.label("provider_name"),
            m.is_active,
            sa.cast(m.provider_id, sa.Text).label("provider_id"),
            # As text: services decode all of a column with one json.loads, 5-10x faster than a decode per row.
            sa.cast(m.pricing, sa.Text).label("pricing"),
            sa.cast(defaults, sa.Text).label("input_defaults"),
        )
        .select_from(api_models.join(api_providers, m.provider_id == p.id))
        .where(*(conditions or []))
        .order_by(m.id)
    )


def listed_ids(ids: list[str], name: str) -> sa.TableValuedAlias:
    """Model ids (as text) as a table with one column, id. A list, not a join to api_models, so that counting never
    pays the catalogue's per-row RLS checks: the caller picks the models from the catalogue it already holds. Sent
    as one text parameter (tables.id_array); the ids come from the database."""
    return sa.func.unnest(id_array(ids, name)).table_valued("id").render_derived(name=name)


def model_counts(source: sa.FromClause, *, only: list[str] | None = None, partial: bool = False) -> sa.Select:
    """Per model with jobs in the source (only those given, when given; ids as text): total, completed, failed
    and rated jobs and the ratings' sum (the source's day may be null: a per-model source). partial: the source is
    a part of a sum (the deltas alone), so a model whose jobs add up to none is kept: its rating may have moved."""
    u = source.c
    jobs_sum = sa.func.sum(u.jobs)
    joined = source
    if only is not None:
        listed = listed_ids(only, "only_models")
        joined = source.join(listed, listed.c.id == u.api_model_id)
    return (
        sa.select(
            sa.cast(u.api_model_id, sa.Text).label("model_id"),
            *(sum_.label(name) for sum_, name in zip(_sums(u, zero=False), SUM_NAMES, strict=True)),
        )
        .select_from(joined)
        .group_by(u.api_model_id)
        # A rollup row a fold took back to zero (its jobs deleted or moved) is no job.
        .having(sa.true() if partial else jobs_sum != 0)
    )


def model_count_arrays(counts: sa.Select) -> sa.Select:
    """model_counts' rows as one row of arrays: model ids, then each figure (none: 0), one element per model (empty
    arrays, not nulls, when there is no row). 8,500 models' rows cost more to fetch and build a frame of, one by one,
    than the query itself."""
    rows = counts.subquery("per_model")
    first, *figures = rows.c
    return sa.select(
        sa.func.coalesce(sa.func.array_agg(first), sa.literal([], ARRAY(sa.Text))),
        *(
            sa.func.coalesce(sa.func.array_agg(sa.func.coalesce(c, 0)), sa.literal([], ARRAY(sa.BigInteger)))
            for c in figures
        ),
    )


def day_counts(
    source: sa.FromClause,
    *,
    only: list[str] | None = None,
    without: list[str] | None = None,
    partial: bool = False,
) -> sa.Select:
    """by_day's rows (jobs per day and status, with ratings) of only the models given, or without those given.
    partial: as in model_counts."""
    u = source.c
    joined, left_out = source, []
    if only is not None:
        listed = listed_ids(only, "only_models")
        joined = joined.join(listed, listed.c.id == u.api_model_id)
    if without is not None:  # an anti-join: the rows of no model listed
        listed = listed_ids(without, "without_models")
        joined, left_out = joined.outerjoin(listed, listed.c.id == u.api_model_id), [listed.c.id.is_(None)]
    return _per_day(u, joined, left_out, partial=partial)


FOLD = sa.text("select dashboard.fold_job_usage()")
REBUILD = sa.text(RECOUNT)  # the recount, in a transaction of the caller's (the benchmarks' builds)
PENDING = sa.text(
    "select (select count(*) from dashboard.job_usage_delta) + (select count(*) from dashboard.job_usage_delta_1)"
)
# What a read has to go through besides the rollups, in bytes, and jobs' own size to weigh it against: sizes,
# not counts, so that asking costs nothing whatever the backlog (a truncated table is 0 at once). admin: the
# rollups are for admins, the service role and the owner's own login (RLS shows them to no one else).
BACKLOG = sa.text("""
select pg_relation_size('dashboard.job_usage_delta') + pg_relation_size('dashboard.job_usage_delta_1') as pending,
       coalesce(pg_relation_size(to_regclass('public.jobs')), 0) as jobs,
       (select min(bucket) from dashboard.job_usage_monthly) as first_month,
       current_setting('role') in ('none', 'service_role')
         or coalesce(public.has_role(auth.uid(), 'admin'::public.app_role), false) as admin
""")
