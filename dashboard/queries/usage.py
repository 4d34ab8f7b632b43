"""Usage queries: jobs per model and per day, from the rollups (admins) or from jobs itself (anyone else).

Both sources yield the same columns (api_model_id, status, day, jobs, rated, rating_sum), so every
aggregate below is written once and reads either.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from dashboard.queries.tables import api_models, api_providers, jobs

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
_deltas = [_delta(name) for name in DELTA_TABLES]


def _day(column):
    return sa.func.date_trunc("day", column, "UTC")


def _whole_days(start: datetime | None, end: datetime | None) -> tuple[datetime | None, datetime | None]:
    """The first and the end of the last whole UTC day inside [start, end) (lo == hi when there is none)."""
    lo = start if start is None or start == start.replace(hour=0) else start.replace(hour=0) + timedelta(days=1)
    hi = end if end is None else end.replace(hour=0)
    if lo is not None and end is not None:
        lo = min(lo, end)
    if hi is not None and lo is not None:
        hi = max(hi, lo)
    return lo, hi


def _in(column, lo: datetime | None, hi: datetime | None) -> list:
    return [*([column >= lo] if lo is not None else []), *([column < hi] if hi is not None else [])]


def rollup_source(start: datetime | None, end: datetime | None) -> sa.FromClause:
    """Rollups plus unfolded deltas, exact at this moment (RLS: admins only), for jobs created in [start, end).

    Whole UTC days come from the daily rollup, the hours at either edge from the hourly one, and the deltas
    not folded yet as their two sides (the jobs as written, +jobs; as they were, -jobs). start and end are whole hours
    (UTC; None for an open end). The day bounds are worked out here, so the planner sees every range as
    constants and reads each rollup by its index.
    """
    start, end = (None if t is None else t.astimezone(UTC) for t in (start, end))
    lo, hi = _whole_days(start, end)
    d, h = _daily.c, _hourly.c
    daily = sa.select(d.api_model_id, d.status, d.bucket.label("day"), d.jobs, d.rated, d.rating_sum)
    edges = [
        sa.select(h.api_model_id, h.status, _day(h.bucket).label("day"), h.jobs, h.rated, h.rating_sum).where(
            *_in(h.bucket, first, last)
        )
        for first, last in ((start, lo), (hi, end))
        if not (first is None and last is None)
    ]
    sides = [side for table in _deltas for side in _delta_sides(table.c, start, end)]
    return sa.union_all(daily.where(*_in(d.bucket, lo, hi)), *edges, *sides).subquery("u")


def _delta_sides(x, start: datetime | None, end: datetime | None) -> list[sa.Select]:
    """A delta table's rows as the jobs as written (+jobs) and as they were (-jobs), each only with a model."""
    new_side = sa.select(
        x.api_model_id,
        x.status,
        _day(x.created_at).label("day"),
        x.jobs,
        sa.case((x.quality_rating.is_(None), 0), else_=x.jobs),
        (sa.func.coalesce(x.quality_rating, 0) * x.jobs).cast(sa.BigInteger),
    ).where(x.api_model_id.is_not(None), *_in(x.created_at, start, end))
    old_side = sa.select(
        x.old_api_model_id,
        x.old_status,
        _day(x.old_created_at),
        -x.jobs,
        sa.case((x.old_quality_rating.is_(None), 0), else_=-x.jobs),
        (-sa.func.coalesce(x.old_quality_rating, 0) * x.jobs).cast(sa.BigInteger),
    ).where(x.old_api_model_id.is_not(None), *_in(x.old_created_at, start, end))
    return [new_side, old_side]


def from_jobs_source(start: datetime | None, end: datetime | None, *, by_day: bool = True) -> sa.FromClause:
    """The same rows counted from jobs by dashboard.job_usage_from_jobs() (admins; costs what the seed's query
    costs): read when the delta backlog is too large to fold first. Without by_day, day is null and rows are
    per model and status only, as the seed's query groups them."""
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


def by_day(source: sa.FromClause, conditions: list) -> sa.Select:
    """Jobs per day (UTC) and status over the source's rows, for the models the conditions select."""
    u, m = source.c, api_models.c
    jobs_sum = sa.func.sum(u.jobs)
    return (
        sa.select(
            u.day,
            u.status,
            jobs_sum.cast(sa.BigInteger).label("jobs"),
            sa.func.sum(u.rated).cast(sa.BigInteger).label("rated_jobs"),
            sa.func.sum(u.rating_sum).cast(sa.BigInteger).label("rating_sum"),
        )
        .select_from(source.join(api_models, m.id == u.api_model_id))
        .where(*conditions)
        .group_by(u.day, u.status)
        .having(jobs_sum != 0)
        .order_by(u.day, u.status)
    )


FOLD = sa.text("select dashboard.fold_job_usage()")
REBUILD = sa.text("select dashboard.rebuild_job_usage()")  # the CLI's usage --rebuild
PENDING = sa.text(
    "select (select count(*) from dashboard.job_usage_delta) + (select count(*) from dashboard.job_usage_delta_1)"
)
# What a read has to go through besides the rollups, in bytes, and jobs' own size to weigh it against: sizes,
# not counts, so that asking costs nothing whatever the backlog (a truncated table is 0 at once). admin: the
# rollups are for admins, the service role and the owner's own login (RLS shows them to no one else).
BACKLOG = sa.text("""
select pg_relation_size('dashboard.job_usage_delta') + pg_relation_size('dashboard.job_usage_delta_1') as pending,
       coalesce(pg_relation_size(to_regclass('public.jobs')), 0) as jobs,
       current_setting('role') in ('none', 'service_role')
         or coalesce(public.has_role(auth.uid(), 'admin'::public.app_role), false) as admin
""")
