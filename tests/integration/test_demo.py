"""Demo data: the seed's example row exactly, all four modalities, valid models, repeatable jobs."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from dashboard.database import SERVICE_ROLE
from dashboard.demo import add_demo_jobs, seed_demo
from dashboard.demo.catalogue import SDXL, SDXL_ID
from dashboard.services import ModelService
from dashboard.services.validation import validate_model_fields

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.fixture
def demo(engine):
    seed_demo(engine, jobs=5000, now=NOW, bcrypt_rounds=4)
    return engine


def _rows(engine, sql):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql)).all()


def test_the_seeds_example_row_is_there_exactly(demo):
    model = ModelService(demo, user_id=SERVICE_ROLE).get_model(SDXL_ID)
    for key, value in SDXL.items():
        assert model[key] == value, key
    (provider,) = _rows(demo, f"select name from api_providers where id = '{model['provider_id']}'")
    assert provider.name == "replicate"


def test_every_modality_has_models_and_one_provider_is_inactive(demo):
    assert {r.modality for r in _rows(demo, "select distinct modality from api_models")} == {
        "text",
        "image",
        "video",
        "audio",
    }
    assert [r.name for r in _rows(demo, "select name from api_providers where not is_active")] == ["legacy-diffusion"]
    assert _rows(demo, "select count(*) from api_models where not is_active")[0][0] >= 3
    assert len(_rows(demo, "select distinct task from api_models")) >= 8


def test_the_demo_has_the_gaps_the_overview_warns_about(demo):
    defaults = {(r.modality, r.task) for r in _rows(demo, "select modality, task from api_models where is_default")}
    assert ("image", "background-removal") not in defaults
    assert _rows(demo, "select count(*) from api_models where task = 'summarization' and is_active")[0][0] == 0


def test_every_demo_model_passes_the_editors_validation(demo):
    columns = (
        "provider_id, model_key, version, display_name, modality, task, model_family, endpoint_path, "
        "input_defaults, capabilities, pricing, output_format, is_active, is_default, priority"
    )
    for row in _rows(demo, f"select {columns} from api_models"):
        validate_model_fields(dict(row._mapping))


def test_jobs_have_a_believable_mix(demo):
    statuses = dict(_rows(demo, "select status, count(*) from jobs group by status"))
    assert sum(statuses.values()) == 5000
    assert statuses["completed"] > 0.85 * 5000
    assert 0.01 * 5000 < statuses["failed"] < 0.15 * 5000
    ((low, high),) = _rows(demo, "select min(created_at), max(created_at) from jobs")
    assert (NOW - low).days >= 150 and high <= NOW
    ratings = _rows(demo, "select min(quality_rating), max(quality_rating) from jobs")[0]
    assert ratings == (1, 5)


def test_the_same_request_gives_the_same_jobs(engine, fresh_database):
    from dashboard.database import create_db_engine
    from db.migrate import migrate

    other = create_db_engine(fresh_database)
    migrate(other)
    summary = (
        "select m.model_key, j.status, count(*), sum(j.quality_rating) from jobs j "
        "join api_models m on m.id = j.api_model_id group by 1, 2 order by 1, 2"
    )
    try:
        for target in (engine, other):
            seed_demo(target, jobs=3000, now=NOW, bcrypt_rounds=4)
        assert _rows(engine, summary) == _rows(other, summary)
    finally:
        other.dispose()


def test_adding_jobs_to_an_empty_catalogue_adds_none(engine):
    assert add_demo_jobs(engine, jobs=100) == 0
