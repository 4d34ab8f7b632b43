"""The pages benchmark's builders (bench/pages_build.py), at a few hundred models: what the 10,000-model build does."""

from collections import Counter

import sqlalchemy as sa

from bench.pages_build import (
    BENCH_ADMIN,
    EXTRA_PROVIDERS,
    SLOT_SHARES,
    add_models,
    add_providers,
    admin_id,
    generated_models,
    load_jobs,
)
from dashboard.demo import seed_demo
from dashboard.queries import usage as usage_queries
from dashboard.services.users import create_user


def _bench_catalogue(engine) -> None:
    seed_demo(engine, jobs=0, bcrypt_rounds=4)
    create_user(engine, email=BENCH_ADMIN, password="bench password, long enough", role="admin", rounds=4)
    add_providers(engine, admin_id(engine))


def test_the_generated_models_are_deterministic_and_unique():
    templates = [
        {
            "modality": m,
            "task": t,
            "model_key": f"owner/{m}-{t}:abc",
            "display_name": f"{m} {t}",
            "model_family": None,
            "endpoint_path": "/run",
            "input_defaults": {},
            "capabilities": {},
            "pricing": {},
            "output_format": None,
        }
        for m, t in SLOT_SHARES
        if not t.startswith(("image-to-image", "segmentation", "style", "translation", "code", "rerank", "lip"))
    ]
    first = generated_models(templates, ["a", "b", "c"], 2_000)
    assert first == generated_models(templates, ["a", "b", "c"], 2_000)
    assert len({(r["provider"], r["model_key"], r["version"]) for r in first}) == 2_000
    slots = Counter((r["modality"], r["task"]) for r in first)
    assert set(slots) <= set(SLOT_SHARES)
    assert slots.most_common(1)[0][0] == ("image", "generation")
    assert not any(r["is_default"] for r in first)


def test_the_catalogue_grows_through_the_import_path(engine):
    _bench_catalogue(engine)
    with engine.connect() as conn:
        defaults_before = conn.execute(sa.text("select count(*) from api_models where is_default")).scalar_one()
    add_models(engine, admin_id(engine), 400, say=lambda _: None)
    with engine.connect() as conn:
        models = conn.execute(sa.text("select count(*) from api_models")).scalar_one()
        providers = conn.execute(sa.text("select count(*) from api_providers")).scalar_one()
        defaults = conn.execute(sa.text("select count(*) from api_models where is_default")).scalar_one()
        audited = conn.execute(
            sa.text(
                "select count(*) from dashboard.audit_log where table_name = 'api_models' and action = 'insert' "
                "and actor_id = :admin"
            ),
            {"admin": admin_id(engine)},
        ).scalar_one()
        biggest = conn.execute(
            sa.text("select modality, task from api_models group by 1, 2 order by count(*) desc limit 1")
        ).one()
    assert models == 400
    assert providers == 6 + len(EXTRA_PROVIDERS)
    assert defaults == defaults_before  # the import adds no default
    assert audited == 400 - 32  # written by the admin, as an import from the page would be
    assert tuple(biggest) == ("image", "generation")


def test_loading_jobs_leaves_the_triggers_on_and_the_rollups_exact_after_a_rebuild(engine):
    _bench_catalogue(engine)
    load_jobs(engine, 3_000, say=lambda _: None, lap=lambda _: None)
    with engine.begin() as conn:
        assert conn.execute(usage_queries.REBUILD).scalar_one() == 3_000
        disabled = conn.execute(
            sa.text(
                "select count(*) from pg_trigger where tgrelid = 'public.jobs'::regclass "
                "and tgname like 'dashboard_job_usage%' and tgenabled = 'D'"
            )
        ).scalar_one()
    assert disabled == 0
