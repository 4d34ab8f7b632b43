"""Test data, written as the server's login role (not under RLS): make_x(engine, **overrides)."""

from __future__ import annotations

import itertools
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dashboard.queries.tables import api_models, api_providers
from dashboard.services.users import create_user

_n = itertools.count(1)


def make_provider(engine: Engine, **overrides: Any) -> UUID:
    n = next(_n)
    values = {
        "name": f"provider-{n}",
        "display_name": f"Provider {n}",
        "base_url": "https://api.example.com",
        "auth_scheme": "bearer",
        "is_active": True,
        **overrides,
    }
    with engine.begin() as conn:
        return conn.execute(sa.insert(api_providers).values(**values).returning(api_providers.c.id)).scalar_one()


def make_model(engine: Engine, provider_id: UUID | None = None, **overrides: Any) -> UUID:
    n = next(_n)
    provider_id = provider_id or make_provider(engine)
    values = {
        "provider_id": provider_id,
        "model_key": f"owner/model-{n}",
        "display_name": f"Model {n}",
        "modality": "image",
        "task": "generation",
        **overrides,
    }
    with engine.begin() as conn:
        return conn.execute(sa.insert(api_models).values(**values).returning(api_models.c.id)).scalar_one()


def make_user(
    engine: Engine, role: str = "user", email: str | None = None, password: str = "correct horse battery"
) -> UUID:
    return create_user(engine, email=email or f"person{next(_n)}@example.com", password=password, role=role, rounds=4)


def make_job(engine: Engine, model_id: UUID, user_id: UUID | None = None, **overrides: Any) -> UUID:
    values = {"api_model_id": model_id, "user_id": user_id, "status": "completed", **overrides}
    with engine.begin() as conn:
        return conn.execute(
            sa.text(
                "insert into jobs (api_model_id, user_id, status, quality_rating) "
                "values (:api_model_id, :user_id, :status, :quality_rating) returning id"
            ),
            {"quality_rating": None, **values},
        ).scalar_one()


def only_these_jobs(engine: Engine, slot: str, **per_model: tuple[int, int]) -> None:
    """Every job of the slot's ("modality/task") models deleted, then per_model's (display name: (completed,
    failed)) written two days before this hour: the slot's last 7 days of jobs are these and nothing else."""
    modality, task = slot.split("/")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "delete from jobs where api_model_id in (select id from api_models where modality = :m and task = :t)"
            ),
            {"m": modality, "t": task},
        )
        for name, (completed, failed) in per_model.items():
            for status, count in (("completed", completed), ("failed", failed)):
                conn.execute(
                    sa.text(
                        "insert into jobs (api_model_id, status, created_at) select id, :s, "
                        "date_trunc('hour', now()) - interval '2 days' from api_models, generate_series(1, :n) "
                        "where display_name = :name"
                    ),
                    {"s": status, "n": count, "name": name},
                )


def level_with_the_pick(engine: Engine, model: str = "Flux Schnell", pick: str = "SDXL 1.0", jobs: int = 14) -> None:
    """The demo's model given its slot's pick's priority (1), the pick given jobs completed two days before this
    hour: making the model the default then moves the pick's traffic to it."""
    with engine.begin() as conn:
        conn.execute(sa.text("update api_models set priority = 1 where display_name = :m"), {"m": model})
        conn.execute(
            sa.text(
                "insert into jobs (api_model_id, status, created_at) select id, 'completed', "
                "date_trunc('hour', now()) - interval '2 days' from api_models, generate_series(1, :n) "
                "where display_name = :p"
            ),
            {"p": pick, "n": jobs},
        )
