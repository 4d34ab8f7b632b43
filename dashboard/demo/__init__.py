"""Realistic, deterministic demo data: providers, models, accounts and jobs over six months."""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dashboard.database import SERVICE_ROLE
from dashboard.demo.catalogue import ERRORS, MODELS, PROVIDERS, RECENT_FAILURE, SDXL, SDXL_BEHAVIOUR, STUCK_SHARE
from dashboard.queries import demo as q
from dashboard.queries.tables import api_models, api_providers
from dashboard.services.errors import ServiceError
from dashboard.services.transfer.formats import COLUMNS
from dashboard.services.usage import UsageService
from dashboard.services.users import add_account

DEFAULT_JOBS = 50_000
HISTORY_DAYS = 180
CUSTOMERS = 40
_CHUNK = 100_000
_SEED = 20250830
DEMO_ACCOUNTS = (("admin@example.com", "admin"), ("viewer@example.com", "user"))

Progress = Callable[[int, int], None]


class CatalogueNotEmpty(ServiceError):
    """seed-demo only fills an empty catalogue, so it can never mix fake rows into real ones."""


@dataclass
class DemoResult:
    passwords: dict[str, str] = field(default_factory=dict)
    models: int = 0
    jobs: int = 0


def seed_demo(
    engine: Engine,
    *,
    jobs: int = DEFAULT_JOBS,
    now: datetime | None = None,
    progress: Progress | None = None,
    bcrypt_rounds: int = 12,
    committed: Callable[[DemoResult], None] | None = None,
) -> DemoResult:
    """Fill an empty catalogue with providers, models, accounts and jobs, then fold the jobs' usage.

    All of it is one transaction: a seed interrupted before its commit (Ctrl-C, a killed process) leaves nothing,
    so the next start seeds again and shows new passwords, where it used to find accounts whose passwords were
    never shown and a catalogue without jobs. `committed` is told the result as soon as it is committed, before
    the fold: a fold cut short leaves the counts exact, and the passwords have been shown.
    """
    result = DemoResult()
    with engine.begin() as conn:
        existing = conn.execute(q.MODEL_COUNT).scalar_one()
        if existing:
            raise CatalogueNotEmpty(f"the catalogue already has {existing} model(s); seed-demo only fills an empty one")
        for email, role in DEMO_ACCOUNTS:
            password = secrets.token_urlsafe(12)
            add_account(conn, email=email, password=password, role=role, rounds=bcrypt_rounds)
            result.passwords[email] = password
        admin_id = conn.execute(q.ACCOUNT_ID, {"email": "admin@example.com"}).scalar_one()
        provider_ids = _insert_providers(conn)
        result.models = _insert_models(conn, provider_ids, admin_id)
        _insert_customers(conn)
        result.jobs = _copy_jobs(conn, jobs=jobs, now=now, progress=progress)
    if committed:
        committed(result)
    _fold(engine, result.jobs)
    return result


def _insert_providers(conn: sa.Connection) -> dict[str, UUID]:
    rows = [
        dict(zip(("name", "display_name", "base_url", "auth_scheme", "is_active"), p, strict=True)) for p in PROVIDERS
    ]
    inserted = conn.execute(sa.insert(api_providers).returning(api_providers.c.name, api_providers.c.id), rows)
    return {name: pid for name, pid in inserted}


def _insert_models(conn: sa.Connection, provider_ids: dict[str, UUID], admin_id: UUID) -> int:
    keys = tuple(column for column in COLUMNS if column != "provider")  # the export's, with provider_id
    conn.execute(sa.insert(api_models).values(**SDXL, provider_id=provider_ids["replicate"], created_by=admin_id))
    rows = []
    for provider, *values, _behaviour in MODELS:
        rows.append(
            {"provider_id": provider_ids[provider], "created_by": admin_id, **dict(zip(keys, values, strict=True))}
        )
    conn.execute(sa.insert(api_models), rows)
    return len(rows) + 1


def _insert_customers(conn: sa.Connection) -> None:
    """Accounts that own the demo jobs; they have no password, so nobody can sign in as them."""
    conn.execute(q.INSERT_CUSTOMERS, {"n": CUSTOMERS})


def add_demo_jobs(engine: Engine, *, jobs: int, now: datetime | None = None, progress: Progress | None = None) -> int:
    """Add jobs spread over the last six months across the catalogue's models, in one transaction; then fold."""
    with engine.begin() as conn:
        written = _copy_jobs(conn, jobs=jobs, now=now, progress=progress)
    _fold(engine, written)
    return written


def _fold(engine: Engine, jobs: int) -> None:
    """The triggers counted every job as a delta: fold them now, so the demo starts in the fast state."""
    if jobs:
        UsageService(engine, user_id=SERVICE_ROLE).fold()


def _copy_jobs(conn: sa.Connection, *, jobs: int, now: datetime | None, progress: Progress | None) -> int:
    """The jobs, in COPY chunks on the caller's transaction; none when there are no models or customers."""
    if jobs <= 0:
        return 0
    now = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    models = conn.execute(q.JOB_MODELS).all()
    users = list(conn.execute(q.CUSTOMERS).scalars())
    if not models or not users:
        return 0
    behaviour = _behaviour_by_name()
    weights = np.array([behaviour.get(m.display_name, (1, 0.05, 3.8))[0] for m in models], dtype=float)
    fail = np.array([behaviour.get(m.display_name, (1, 0.05, 3.8))[1] for m in models])
    rating = np.array([behaviour.get(m.display_name, (1, 0.05, 3.8))[2] or np.nan for m in models])
    inactive = np.array([not m.is_active for m in models])
    incidents = (
        np.array([RECENT_FAILURE.get(m.display_name, np.nan) for m in models]),
        np.array([STUCK_SHARE.get(m.display_name, 0.0) for m in models]),
    )
    model_ids = np.array([str(m.id) for m in models])
    user_ids = np.array([str(u) for u in users])
    rng = np.random.default_rng(_SEED + jobs)
    written = 0
    with conn.connection.driver_connection.cursor() as cursor:
        while written < jobs:
            n = min(_CHUNK, jobs - written)
            frame = _job_chunk(rng, n, now, weights, fail, rating, inactive, incidents, model_ids, user_ids)
            buffer = io.StringIO()
            frame.to_csv(buffer, header=False, index=False)
            with cursor.copy(
                "copy jobs (id, user_id, api_model_id, status, quality_rating, error_message, "
                "created_at, updated_at, completed_at) from stdin with (format csv)"
            ) as copy:
                copy.write(buffer.getvalue())
            written += n
            if progress:
                progress(written, jobs)
    return written


def _behaviour_by_name() -> dict[str, tuple]:
    table = {model[3]: model[-1] for model in MODELS}
    table[SDXL["display_name"]] = SDXL_BEHAVIOUR
    return table


def _job_chunk(
    rng: np.random.Generator,
    n: int,
    now: datetime,
    weights: np.ndarray,
    fail: np.ndarray,
    rating: np.ndarray,
    inactive: np.ndarray,
    incidents: tuple[np.ndarray, np.ndarray],
    model_ids: np.ndarray,
    user_ids: np.ndarray,
) -> pd.DataFrame:
    model = rng.choice(len(weights), size=n, p=weights / weights.sum())
    # More jobs recently (a growing platform); models that are inactive now stopped 60+ days ago.
    days_back = HISTORY_DAYS * rng.random(n) ** 1.6
    days_back = np.where(inactive[model], 60 + (HISTORY_DAYS - 60) * rng.random(n), days_back)
    created = pd.Timestamp(now) - pd.to_timedelta(days_back, unit="D")
    roll = rng.random(n)
    recent_failure, stuck_share = incidents
    failing = np.where((days_back < 2 / 24) & ~np.isnan(recent_failure[model]), recent_failure[model], fail[model])
    status = np.where(roll < failing, "failed", np.where(roll > 0.985, "cancelled", "completed"))
    stuck = (days_back < 3 / 24) & (rng.random(n) < stuck_share[model])
    status = np.where(stuck, "processing", status)
    rated = (status == "completed") & (rng.random(n) < 0.55) & ~np.isnan(rating[model])
    stars = np.clip(np.rint(rng.normal(np.nan_to_num(rating[model], nan=3), 0.9)), 1, 5)
    duration = pd.to_timedelta(rng.gamma(2.0, 8.0, n), unit="s")
    finished = np.isin(status, ["completed", "failed", "cancelled"])
    completed_at = pd.Series(created + duration).where(finished)
    ids = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    ids[:, 6] = (ids[:, 6] & 0x0F) | 0x40  # version 4
    ids[:, 8] = (ids[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    return pd.DataFrame(
        {
            "id": [str(UUID(bytes=row.tobytes())) for row in ids],
            "user_id": user_ids[rng.integers(0, len(user_ids), n)],
            "api_model_id": model_ids[model],
            "status": status,
            "quality_rating": pd.array(np.where(rated, stars, np.nan), dtype="Int64"),
            "error_message": np.where(status == "failed", np.array(ERRORS)[rng.integers(0, len(ERRORS), n)], None),
            "created_at": created,
            "updated_at": completed_at.fillna(pd.Series(created)),
            "completed_at": completed_at,
        }
    )
