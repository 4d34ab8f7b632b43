"""Every query of the seed runs verbatim on our schema, and ModelService returns what it returns."""

import pandas as pd
import pytest
import sqlalchemy as sa

from dashboard.database import SERVICE_ROLE
from dashboard.demo import seed_demo
from dashboard.services import ModelService
from tests.seed_spec import PLACEHOLDER_PROVIDER, seed_queries


@pytest.fixture
def demo_engine(engine):
    seed_demo(engine, jobs=3000, bcrypt_rounds=4)
    return engine


def _verbatim(engine, title):
    sql = seed_queries()[title]
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.exec_driver_sql(sql)]


def test_the_seed_lists_six_queries():
    assert len(seed_queries()) == 6


def _replicate_id(engine):
    with engine.connect() as conn:
        return conn.execute(sa.text("select id from api_providers where name = 'replicate'")).scalar_one()


@pytest.mark.parametrize("title", list(seed_queries()))
def test_each_seed_query_runs_verbatim(demo_engine, title):
    sql = seed_queries()[title]
    # The by-provider query carries a placeholder where an id goes: it runs with a real id in its place.
    sql = sql.replace(PLACEHOLDER_PROVIDER, str(_replicate_id(demo_engine)))
    with demo_engine.connect() as conn:
        assert conn.exec_driver_sql(sql).all(), f"{title} returned nothing on the demo data"


def test_the_provider_placeholder_is_not_an_id_so_the_database_refuses_it(demo_engine):
    with demo_engine.connect() as conn, pytest.raises(sa.exc.DataError, match="invalid input syntax for type uuid"):
        conn.exec_driver_sql(seed_queries()["Get models by provider"])


def _service(engine):
    return ModelService(engine, user_id=SERVICE_ROLE)


def test_active_models_match_the_seed_query(demo_engine):
    assert _service(demo_engine).list_active_models() == _verbatim(demo_engine, "Get all active models")


def test_models_for_task_match_the_seed_query(demo_engine):
    ours = _service(demo_engine).list_models_for_task(modality="image", task="generation")
    assert ours == _verbatim(demo_engine, "Get models by modality and task")


def test_default_models_match_the_seed_query(demo_engine):
    ours = _service(demo_engine).list_default_models()
    theirs = _verbatim(demo_engine, "Get default models")
    key = lambda r: (r["modality"], r["task"], str(r["id"]))  # noqa: E731 - the seed leaves ties in order
    assert sorted(ours, key=key) == sorted(theirs, key=key)


def test_usage_stats_match_the_seed_query(demo_engine):
    ours = _service(demo_engine).usage_stats()
    theirs = pd.DataFrame(_verbatim(demo_engine, "Get models with usage statistics"))
    theirs["avg_quality_rating"] = theirs["avg_quality_rating"].astype(float)
    columns = ["display_name", "modality", "task", "provider_name"]
    pd.testing.assert_frame_equal(
        ours.sort_values(columns).reset_index(drop=True),
        theirs.sort_values(columns).reset_index(drop=True),
        check_dtype=False,
    )


def test_models_by_provider_match_the_seed_query_for_a_real_provider(demo_engine):
    provider_id = _replicate_id(demo_engine)
    sql = seed_queries()["Get models by provider"].replace(PLACEHOLDER_PROVIDER, str(provider_id))
    with demo_engine.connect() as conn:
        theirs = [dict(r._mapping) for r in conn.exec_driver_sql(sql)]
    assert _service(demo_engine).list_models_by_provider(provider_id) == theirs
    assert theirs


def test_routing_selection_is_the_seed_querys_rows_in_a_stable_order(demo_engine):
    ours = _service(demo_engine).routing_candidates(modality="image", task="generation")
    theirs = _verbatim(demo_engine, "Get model selection for job routing")
    assert sorted(ours, key=lambda r: str(r["id"])) == sorted(theirs, key=lambda r: str(r["id"]))
    ranks = [
        (r["priority"], not r["is_default"])
        for r in _service(demo_engine).list_models_for_task(modality="image", task="generation")
        if r["id"] in {o["id"] for o in ours}
    ]
    assert ranks == sorted(ranks)
    assert _service(demo_engine).select_model(modality="image", task="generation")["display_name"] == "SDXL 1.0"
