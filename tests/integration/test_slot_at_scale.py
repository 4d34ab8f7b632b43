"""A slot of thousands of models on a real database: its preview comes from one read of the slot and ranks as the
seed's routing query does, and a reorder may name every model of it (more than a bulk change may) and renumber all."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dashboard.queries import models as model_queries
from dashboard.services import InvalidModel
from dashboard.services.bulk import MAX_MODELS, BulkService
from dashboard.services.routing import RoutingService
from tests.factories import make_provider, make_user

SIZE = 2_500


@pytest.fixture
def admin(engine):
    return make_user(engine, "admin")


@pytest.fixture
def large_slot(engine) -> None:
    """image/generation with SIZE models, priorities 10 apart: a tenth inactive, a tenth on an inactive provider."""
    live, dead = make_provider(engine), make_provider(engine, is_active=False)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into api_models (provider_id, model_key, display_name, modality, task, priority, is_active, "
                "is_default, input_defaults) "
                "select case when n % 10 = 3 then :dead else :live end, 'bulk/m-' || n, 'Bulk ' || (n % 997), "
                "'image', 'generation', 10 * n, n % 10 <> 7, n = 42, jsonb_build_object('n', n) "
                "from generate_series(1, :size) n"
            ),
            {"live": live, "dead": dead, "size": SIZE},
        )


def _priorities(engine) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("select id, priority from api_models where task = 'generation'")).all())


def test_the_preview_of_a_large_slot_ranks_as_the_routing_query(engine, admin, large_slot):
    with engine.begin() as conn:  # fifty models at each priority: the tie-breakers decide
        conn.execute(sa.text("update api_models set priority = priority % 500 / 10"))
    preview = RoutingService(engine, user_id=admin).preview(modality="image", task="generation")
    with engine.connect() as conn:
        routed = conn.execute(model_queries.ROUTING_SELECTION, {"modality": "image", "task": "generation"}).all()
    assert [c.id for c in preview.candidates] == [r.id for r in routed]
    assert preview.picked_row == dict(routed[0]._mapping)  # the query's own row for the pick, JSON included
    assert len(preview.candidates) + len(preview.excluded) == len(preview.models) == SIZE


def test_a_reorder_names_every_model_of_a_large_slot_and_changes_only_what_it_must(engine, admin, large_slot):
    bulk = BulkService(engine, user_id=admin)
    models = bulk.slot_models("image", "generation")
    ids = [m["id"] for m in models]
    assert len(ids) > MAX_MODELS
    last_to_top = [ids[-1], *ids[:-1]]
    assert bulk.reorder("image", "generation", last_to_top, expected_ids=ids) == 1
    assert [m["id"] for m in bulk.slot_models("image", "generation")] == last_to_top
    reversed_order = list(reversed(last_to_top))
    changed = bulk.reorder("image", "generation", reversed_order, expected_ids=ids)
    assert changed > MAX_MODELS  # one statement renumbers thousands
    assert [m["id"] for m in bulk.slot_models("image", "generation")] == reversed_order
    before = _priorities(engine)
    with pytest.raises(InvalidModel, match="leaves out 1 model"):
        bulk.reorder("image", "generation", reversed_order[1:])
    assert _priorities(engine) == before
