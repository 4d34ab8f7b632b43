"""Health's reads beyond the usage and latency ones: stuck jobs per model, the hour the oldest was created in, and
the rule columns of models named by id."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID

from dashboard.queries.tables import RULE_COLUMNS, api_models, models_with_providers

STUCK_STATUSES = ("queued", "processing")


def _uuids(name: str, ids: list[str]):
    return sa.cast(sa.bindparam(name, ids, type_=ARRAY(sa.Text)), ARRAY(PG_UUID(as_uuid=True)))


def stuck_counts(source: sa.FromClause) -> sa.Select:
    """(model id as text, status, jobs) of the source's queued and processing jobs, per model and status, where
    there are any (source: one of queries.usage's, day null or not)."""
    u = source.c
    jobs = sa.func.sum(u.jobs)
    return (
        sa.select(sa.cast(u.api_model_id, sa.Text), u.status, jobs.cast(sa.BigInteger))
        .where(u.status.in_(STUCK_STATUSES))
        .group_by(u.api_model_id, u.status)
        .having(jobs > 0)
    )


def oldest_stuck(source: sa.FromClause, ids: list[str]) -> sa.Select:
    """(model id as text, the first day of the source (or hour: its day column) with queued or processing jobs)
    for each model listed that has any."""
    u = source.c
    jobs = sa.func.sum(u.jobs)
    per = (
        sa.select(u.api_model_id.label("model"), u.day.label("at"))
        .where(u.status.in_(STUCK_STATUSES), u.api_model_id == sa.any_(_uuids("stuck_ids", ids)))
        .group_by(u.api_model_id, u.day)
        .having(jobs > 0)
        .subquery()
    )
    return sa.select(sa.cast(per.c.model, sa.Text), sa.func.min(per.c.at)).group_by(per.c.model)


def models_by_id(ids: list[str]) -> sa.Select:
    """The catalogue's rule columns (under the reader's RLS) of the models listed (ids as text) that exist."""
    return (
        sa.select(*RULE_COLUMNS)
        .select_from(models_with_providers)
        .where(api_models.c.id == sa.any_(_uuids("model_ids", ids)))
    )
