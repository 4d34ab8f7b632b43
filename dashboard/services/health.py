"""Health: is each routed slot's model failing, stuck, slow or rated down right now, against its own baseline?

Figures come from the usage rollups (exact at this moment: rollups plus pending deltas, read as UsageService reads
them, folding a large backlog first) and the latency rollups (dashboard.queries.latency), never from a scan of jobs;
the findings from services/health_rules.py. Windows are whole UTC hours, the rollups' grain. Admins and the service
role only: the rollups count every person's jobs, so RLS shows them to no one else (NotAllowed, not an empty report
that would read as "healthy").
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.engine import Engine

from dashboard.queries import catalogue as catalogue_queries
from dashboard.queries import latency as lq
from dashboard.queries import usage as q
from dashboard.queries.tables import RULE_COLUMNS, api_models, models_with_providers
from dashboard.services import routing_rules
from dashboard.services.base import ActingService
from dashboard.services.errors import InvalidRange, NotAllowed
from dashboard.services.health_rules import BASELINE_DAYS, HealthFinding, HealthThresholds, ModelHealth, assess
from dashboard.services.usage import UsageRange, UsageService, failure_rate

WINDOWS = {"1h": "the last hour", "24h": "the last 24 hours"}
_WINDOW_HOURS = {"1h": 1, "24h": 24}
STUCK_STATUSES = ("queued", "processing")
_BY_LIST_MAX = 500  # past this many models, latency is read for every model and the rest left out here


@dataclass(frozen=True)
class HealthReport:
    window: str
    start: datetime  # window = [start, now): start = this hour's start minus N hours
    end: datetime  # the end of this hour (jobs created later, in the future, are left out)
    baseline_start: datetime  # baseline = [start - 7 days, start)
    latency_basis: str | None  # 'completed_at', 'status_change', or None when usage is not captured
    latency_precision: str
    models: list[ModelHealth]  # every slot's pick, plus every model with jobs in the window or stuck jobs
    findings: list[HealthFinding]  # worst first
    thresholds: HealthThresholds
    stuck_before: datetime | None = None  # queued or processing jobs created before this are counted as stuck

    @property
    def needs_attention(self) -> bool:
        return bool(self.findings)

    def as_json(self) -> dict[str, Any]:
        """The report as JSON values: {"window", ..., "findings": [...], "slots": [one row per model]}."""
        return {
            "window": self.window,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "baseline_start": self.baseline_start.isoformat(),
            "stuck_before": self.stuck_before.isoformat() if self.stuck_before else None,
            "latency_basis": self.latency_basis,
            "latency_precision": self.latency_precision,
            "thresholds": asdict(self.thresholds),
            "needs_attention": self.needs_attention,
            "findings": [
                {"kind": f.kind, "slot": f.slot, "model": f.model, "routed": f.routed, "message": f.message}
                for f in self.findings
            ],
            "slots": [_model_json(m) for m in self.models],
        }


class HealthService(ActingService):
    """The Health report as one person may read it (admins and the service role)."""

    def __init__(self, db: str | Engine, *, user_id: UUID | str | None, read_db: str | Engine | None = None):
        super().__init__(db, user_id=user_id)
        self._usage = UsageService(self.engine, user_id=user_id, read_db=read_db)

    def report(
        self, window: str = "1h", *, now: datetime | None = None, thresholds: HealthThresholds | None = None
    ) -> HealthReport:
        """Every routed slot's pick and every model with jobs in the window or stuck jobs, with the findings."""
        if window not in WINDOWS:
            raise InvalidRange(f"unknown window {window!r}; choose one of {', '.join(WINDOWS)}")
        thresholds = thresholds or HealthThresholds()
        now = (now or datetime.now(UTC)).astimezone(UTC)
        hour = now.replace(minute=0, second=0, microsecond=0)
        start, end = hour - timedelta(hours=_WINDOW_HOURS[window]), hour + timedelta(hours=1)
        baseline_start = start - timedelta(days=BASELINE_DAYS)
        # A job is stuck once the hour it was created in ended stuck_minutes ago or more.
        stuck_before = (now - timedelta(minutes=thresholds.stuck_minutes)).replace(minute=0, second=0, microsecond=0)
        decided = self._usage._decide()  # the backlog's rule: fold first, or read jobs, as every usage read does
        if decided[0].source == "own":
            raise NotAllowed("Health counts every person's jobs: only admins can see it")

        def source(first: datetime | None, last: datetime, *, by_day: bool = False) -> sa.FromClause:
            return self._usage._source(UsageRange(first, last), by_day=by_day, decided=decided)[0]

        with self._transaction(self._usage.read_engine) as conn:
            slots = routing_rules.by_slot(dict(r._mapping) for r in conn.execute(catalogue_queries.SLOT_FACTS))
            picks = _picks(slots)
            counts = _counts(conn.execute(q.model_counts(source(start, end))))
            stuck = _stuck(conn, source(None, stuck_before), source(None, stuck_before, by_day=True), stuck_before)
            timed = _latency(conn, start, end, [m for m, c in counts.items() if c[1]])
            wanted = _baseline_models(counts, timed, picks, thresholds)
            baseline = _counts(conn.execute(q.model_counts(source(baseline_start, start), only=sorted(wanted))))
            busy = [m for m in wanted if sum(timed.get(m, {}).values()) >= thresholds.min_jobs]
            baseline_timed = _latency(conn, baseline_start, start, busy)
            listed = {str(m["id"]) for models in slots.values() for m in models}
            others = set(counts) | set(stuck)
            named = {**_models_by_id(conn, sorted(others - listed)), **_slot_models(slots)}
            basis = conn.execute(lq.LATENCY_BASIS).scalar()
        decided[2]()  # what the backlog's rule does after a read (a fold in the background)
        rows = _rows(picks, named, counts, baseline, stuck, timed, baseline_timed, others)
        models, found = assess(rows, thresholds, window=f"in {WINDOWS[window]}", now=now)
        return HealthReport(
            window=window,
            start=start,
            end=end,
            baseline_start=baseline_start,
            latency_basis=basis,
            latency_precision=lq.PRECISION,
            models=sorted(models, key=_order),
            findings=found,
            thresholds=thresholds,
            stuck_before=stuck_before,
        )


# ─── Reads ────────────────────────────────────────────────────────────────────────────────────────
Counts = tuple[int, int, int, int, int]  # total, completed, failed, rated, rating_sum


def _counts(result: Iterable) -> dict[str, Counts]:
    return {row[0]: tuple(int(v or 0) for v in row[1:]) for row in result}  # type: ignore[misc]


def _picks(slots: dict[tuple[str, str], list[dict]]) -> dict[str, tuple[dict, dict | None]]:
    """Each slot's pick (by id, as text) with its next in line, as routing_rules ranks them."""
    picks = {}
    for models in slots.values():
        ranked = routing_rules.candidates(models)
        if ranked:
            picks[str(ranked[0]["id"])] = (ranked[0], ranked[1] if len(ranked) > 1 else None)
    return picks


def _slot_models(slots: dict[tuple[str, str], list[dict]]) -> dict[str, dict]:
    return {str(m["id"]): m for models in slots.values() for m in models}


def _baseline_models(
    counts: dict[str, Counts], timed: dict[str, dict[int, int]], picks: dict, thresholds: HealthThresholds
) -> set[str]:
    """The models whose baseline can matter: busy enough in the window for a failure, latency or rating finding,
    and the slots' picks with their next in line (whose failure rate a finding on the pick quotes)."""
    wanted = {
        m
        for m, (_, completed, failed, rated, _) in counts.items()
        if completed + failed >= thresholds.min_jobs or rated >= thresholds.min_rated
    }
    wanted |= {m for m, buckets in timed.items() if sum(buckets.values()) >= thresholds.min_jobs}
    for pick, (_, after) in picks.items():
        wanted.add(pick)
        if after is not None:
            wanted.add(str(after["id"]))
    return wanted


def _latency(conn: sa.Connection, start: datetime, end: datetime, models: list[str]) -> dict[str, dict[int, int]]:
    """Completed jobs per duration bucket of each model given, created in [start, end)."""
    if not models:
        return {}
    only = sorted(models) if len(models) <= _BY_LIST_MAX else None
    wanted = set(models)
    found: dict[str, dict[int, int]] = {}
    for model, bucket, jobs in conn.execute(lq.latency_counts(start, end, only=only)):
        if str(model) in wanted and jobs:
            found.setdefault(str(model), {})[int(bucket)] = int(jobs)
    return found


def _stuck(
    conn: sa.Connection, totals: sa.FromClause, by_day: sa.FromClause, before: datetime
) -> dict[str, tuple[int, int, datetime | None]]:
    """Per model with stuck jobs (queued or processing, created before `before`): (queued, processing, the start of
    the hour the oldest was created in). The counts from per-model totals; the oldest day from the same counts by day
    for those models only (the daily rollup read by model), then its hour from that day's hours."""
    u = totals.c
    jobs = sa.func.sum(u.jobs)
    rows = conn.execute(
        sa.select(sa.cast(u.api_model_id, sa.Text), u.status, jobs.cast(sa.BigInteger))
        .where(u.status.in_(STUCK_STATUSES))
        .group_by(u.api_model_id, u.status)
        .having(jobs > 0)
    )
    stuck: dict[str, dict[str, int]] = {}
    for model, status, count in rows:
        stuck.setdefault(model, {})[status] = int(count)
    if not stuck:
        return {}
    days = _oldest(conn, by_day, sorted(stuck))
    hours: dict[str, datetime] = {}
    for day in set(days.values()):
        ids = sorted(m for m, d in days.items() if d == day)
        hours |= _oldest(conn, _hours(day, min(day + timedelta(days=1), before)), ids)
    return {m: (s.get("queued", 0), s.get("processing", 0), hours.get(m)) for m, s in stuck.items()}


def _oldest(conn: sa.Connection, source: sa.FromClause, ids: list[str]) -> dict[str, datetime]:
    """Per model listed, the first day (or hour: the source's day column) with stuck jobs of it."""
    u = source.c
    when = u.day
    jobs = sa.func.sum(u.jobs)
    listed = sa.cast(sa.bindparam("stuck_ids", ids, type_=ARRAY(sa.Text)), ARRAY(PG_UUID(as_uuid=True)))
    per = (
        sa.select(u.api_model_id.label("model"), when.label("at"))
        .where(u.status.in_(STUCK_STATUSES), u.api_model_id == sa.any_(listed))
        .group_by(u.api_model_id, when)
        .having(jobs > 0)
        .subquery()
    )
    rows = conn.execute(sa.select(sa.cast(per.c.model, sa.Text), sa.func.min(per.c.at)).group_by(per.c.model))
    return {model: at.astimezone(UTC) for model, at in rows}


# The hourly usage rollup and the unfolded deltas at the grain of an hour (queries.usage reads them by day): the
# hours of one day, for a few models, to say the hour of the oldest stuck job. Columns named as day is in the
# other sources, so _oldest reads either.
_hourly = sa.table(
    "job_usage_hourly",
    sa.column("bucket", sa.DateTime(timezone=True)),
    sa.column("api_model_id", PG_UUID(as_uuid=True)),
    sa.column("status", sa.Text),
    sa.column("jobs", sa.BigInteger),
    schema="dashboard",
)


def _delta_table(name: str) -> sa.TableClause:
    return sa.table(
        name,
        *(sa.column(c, PG_UUID(as_uuid=True)) for c in ("api_model_id", "old_api_model_id")),
        *(sa.column(c, sa.Text) for c in ("status", "old_status")),
        *(sa.column(c, sa.DateTime(timezone=True)) for c in ("created_at", "old_created_at")),
        sa.column("jobs", sa.BigInteger),
        schema="dashboard",
    )


def _hours(start: datetime, end: datetime) -> sa.FromClause:
    """Rows (api_model_id, status, day = the hour, jobs) of jobs created in [start, end), exact at this moment:
    the hourly rollup plus each delta as the job is (+jobs) and as it was (-jobs), as rollup_source counts them."""
    h = _hourly.c
    parts = [
        sa.select(h.api_model_id, h.status, h.bucket.label("day"), h.jobs).where(
            h.bucket >= start, h.bucket < end, h.status.in_(STUCK_STATUSES)
        )
    ]
    for name in q.DELTA_TABLES:
        x = _delta_table(name).c
        for model, status, created, sign in (
            (x.api_model_id, x.status, x.created_at, 1),
            (x.old_api_model_id, x.old_status, x.old_created_at, -1),
        ):
            parts.append(
                sa.select(model, status, sa.func.date_trunc("hour", created, "UTC"), sign * x.jobs).where(
                    model.is_not(None), created >= start, created < end
                )
            )
    return sa.union_all(*parts).subquery("hours")


def _models_by_id(conn: sa.Connection, ids: list[str]) -> dict[str, dict]:
    """The catalogue's rule columns of the models given (ids as text) that still exist."""
    if not ids:
        return {}
    listed = sa.cast(sa.bindparam("model_ids", ids, type_=ARRAY(sa.Text)), ARRAY(PG_UUID(as_uuid=True)))
    rows = conn.execute(
        sa.select(*RULE_COLUMNS).select_from(models_with_providers).where(api_models.c.id == sa.any_(listed))
    )
    return {str(r.id): dict(r._mapping) for r in rows}


# ─── Figures ──────────────────────────────────────────────────────────────────────────────────────
def _rows(
    picks: dict[str, tuple[dict, dict | None]],
    named: dict[str, dict],
    counts: dict[str, Counts],
    baseline: dict[str, Counts],
    stuck: dict[str, tuple[int, int, datetime | None]],
    timed: dict[str, dict[int, int]],
    baseline_timed: dict[str, dict[int, int]],
    others: set[str],
) -> list[ModelHealth]:
    """A ModelHealth for every pick and every other model with jobs in the window or stuck jobs."""
    rows = []
    for model_id in [*picks, *sorted(others - set(picks))]:
        model = named.get(model_id)
        _, next_model = picks.get(model_id, (None, None))
        total, completed, failed, rated, rating_sum = counts.get(model_id, (0, 0, 0, 0, 0))
        b_total, b_completed, b_failed, b_rated, b_sum = baseline.get(model_id, (0, 0, 0, 0, 0))
        queued, processing, oldest = stuck.get(model_id, (0, 0, None))
        buckets, baseline_buckets = timed.get(model_id, {}), baseline_timed.get(model_id, {})
        rows.append(
            ModelHealth(
                modality=model["modality"] if model else "",
                task=model["task"] if model else "",
                model_id=model_id,
                model=model["display_name"] if model else f"model {model_id} (no longer in the catalogue)",
                provider=model["provider_name"] if model else "",
                routed=model_id in picks,
                next_model=next_model["display_name"] if next_model else None,
                next_failure_rate=_next_rate(next_model, counts, baseline),
                jobs=total,
                completed=completed,
                failed=failed,
                failure_rate=failure_rate(failed, completed),
                baseline_jobs=b_total,
                baseline_failure_rate=failure_rate(b_failed, b_completed),
                baseline_finished=b_completed + b_failed,
                p50_seconds=lq.percentile(buckets, 0.5),
                p95_seconds=lq.percentile(buckets, 0.95),
                baseline_p95_seconds=lq.percentile(baseline_buckets, 0.95),
                timed=sum(buckets.values()),
                baseline_timed=sum(baseline_buckets.values()),
                stuck_jobs=queued + processing,
                stuck_queued=queued,
                stuck_processing=processing,
                stuck_oldest_from=oldest,
                rated=rated,
                avg_rating=rating_sum / rated if rated else None,
                baseline_rated=b_rated,
                baseline_avg_rating=b_sum / b_rated if b_rated else None,
            )
        )
    return rows


def _next_rate(model: dict | None, counts: dict[str, Counts], baseline: dict[str, Counts]) -> float | None:
    """The next in line's failure rate over the baseline and the window together (it rarely gets jobs)."""
    if model is None:
        return None
    now, before = counts.get(str(model["id"]), (0,) * 5), baseline.get(str(model["id"]), (0,) * 5)
    return failure_rate(now[2] + before[2], now[1] + before[1])


def _order(model: ModelHealth) -> tuple:
    return (model.status != "attention", model.modality, model.task, not model.routed, -model.jobs, model.model)


def _model_json(model: ModelHealth) -> dict[str, Any]:
    row = asdict(model)
    row["status"] = model.status
    row["reasons"] = list(model.reasons)
    row["stuck_oldest_from"] = model.stuck_oldest_from.isoformat() if model.stuck_oldest_from else None
    for key, value in row.items():  # a p95 beyond the last bucket is infinite: JSON has no such number
        if isinstance(value, float) and not math.isfinite(value):
            row[key] = None
    return row


# ─── For a terminal and a chat channel ────────────────────────────────────────────────────────────
def report_as_text(report: HealthReport) -> str:
    """The findings, then one line per model, for a terminal (hidden characters in names shown as escapes)."""
    import pandas as pd

    from dashboard.services.health_rules import duration, percent
    from dashboard.text import visible, visible_frame

    lines = [
        f"Health over {WINDOWS[report.window]}: jobs created since {report.start:%Y-%m-%d %H:%M} UTC, against each "
        f"model's {BASELINE_DAYS} days before; stuck: queued or processing, created before "
        f"{report.stuck_before:%Y-%m-%d %H:%M} UTC (counted to the hour)"
    ]
    lines += [f"! {visible(f.message)}" for f in report.findings] or ["nothing needs attention"]
    if report.models:
        table = pd.DataFrame(
            [
                {
                    "slot": m.slot,
                    "model": m.model,
                    "routed": "yes" if m.routed else "",
                    "status": m.status,
                    "jobs": m.jobs,
                    "failing": percent(m.failure_rate),
                    "baseline": percent(m.baseline_failure_rate) if m.baseline_finished else "-",
                    "p50": duration(m.p50_seconds) if m.timed else "-",
                    "p95": duration(m.p95_seconds) if m.timed else "-",
                    "stuck": m.stuck_jobs,
                }
                for m in report.models
            ]
        )
        lines += ["", visible_frame(table).to_string(index=False)]
    return "\n".join(lines)


WEBHOOK_TIMEOUT_SECONDS = 10


def webhook_payload(report: HealthReport) -> dict[str, Any]:
    """What the webhook receives: Slack's "text" (one finding a line, names made inert: hidden characters as escapes,
    and &, <, > as Slack's entities so that a name cannot make a link or mention), the window and the findings."""
    from dashboard.text import visible

    def inert(text: str) -> str:
        return visible(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    document = report.as_json()
    return {
        "text": "\n".join(inert(f.message) for f in report.findings),
        **{k: document[k] for k in ("window", "findings")},
    }


def redacted(url: str) -> str:
    """A webhook URL as it may be printed: its scheme and host (the path holds the secret)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
    except ValueError:
        return "the webhook URL"
    return f"{parts.scheme}://{host}/…" if parts.scheme in ("http", "https") and host else "the webhook URL"


def post_findings(url: str, report: HealthReport, *, timeout: float = WEBHOOK_TIMEOUT_SECONDS) -> str | None:
    """POST webhook_payload(report) as JSON to url; None when the receiver accepted it (2xx), else what went wrong,
    in one line that never holds the URL's path (a secret). Never raises."""
    import http.client
    import json
    import urllib.error
    import urllib.request
    from urllib.parse import urlsplit

    where = redacted(url)
    try:
        scheme = urlsplit(url.strip()).scheme
    except ValueError:
        scheme = ""
    if scheme not in ("http", "https"):  # urllib would also open file:// and ftp:// URLs
        return "the webhook URL is not an http(s) URL; nothing was posted"
    body = json.dumps(webhook_payload(report), ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(
        url.strip(), data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked above
            response.read(65536)
    except urllib.error.HTTPError as exc:
        return f"the webhook at {where} answered {exc.code} {exc.reason}; the findings were not posted"
    except (TimeoutError, urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        reason = getattr(exc, "reason", None)
        if isinstance(exc, TimeoutError) or isinstance(reason, TimeoutError):
            reason = f"no answer within {timeout:g} s"
        elif not isinstance(reason, (str, OSError)):
            reason = type(exc).__name__
        text = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
        return f"could not post to the webhook at {where}: {text}"
    return None
