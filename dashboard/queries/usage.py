"""Usage queries: jobs per model and per day, from the rollups (admins) or from jobs itself (anyone else).

Both sources yield the same columns (api_model_id, status, day, jobs, rated, rating_sum), so every
aggregate below is written once and reads either.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from dashboard.queries.tables import api_models, api_providers, jobs

_TZ = sa.DateTime(timezone=True)
_NEG_INF = sa.literal("-infinity", _TZ)
_POS_INF = sa.literal("infinity", _TZ)
SOURCE_COLUMNS = ("api_model_id", "status", "day", "jobs", "rated", "rating_sum")


def rollup_source(start: datetime | None, end: datetime | None) -> sa.FromClause:
    """dashboard.job_usage(): rollups plus unfolded deltas, exact at this moment (RLS: admins only)."""
    lower = sa.literal(start, _TZ) if start else _NEG_INF
    upper = sa.literal(end, _TZ) if end else _POS_INF
    return (
        sa.func.dashboard.job_usage(lower, upper)
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
    conditions = [j.api_model_id.is_not(None)]
    if start:
        conditions.append(j.created_at >= start)
    if end:
        conditions.append(j.created_at < end)
    return (
        sa.select(
            j.api_model_id,
            j.status,
            sa.func.date_trunc("day", j.created_at, "UTC").label("day"),
            sa.literal(1, sa.BigInteger).label("jobs"),
            sa.case((j.quality_rating.is_not(None), 1), else_=0).label("rated"),
            sa.func.coalesce(j.quality_rating, 0).label("rating_sum"),
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
REBUILD = sa.text("select dashboard.rebuild_job_usage()")
PENDING = sa.text("select count(*) from dashboard.job_usage_delta")
