"""Bulk changes and reordering: the routing impact (pure, then on the demo catalogue), all-or-nothing writes as
real people under RLS, conflicts, concurrency and hostile input."""

from __future__ import annotations

import itertools
import random
from uuid import UUID, uuid4

import pytest
import sqlalchemy as sa

from dashboard.demo import seed_demo
from dashboard.services import EditConflict, InvalidModel, ModelNotFound, ModelService, NotAllowed, ProviderNotFound
from dashboard.services.bulk import (
    BulkChange,
    BulkService,
    renumbered,
    renumbering_note,
    reorder_priorities,
)
from dashboard.services.routing_rules import pick
from tests import hostile
from tests.concurrency import run_together
from tests.factories import make_model, make_provider, make_user


def _messages(impacts) -> list[tuple[str, str]]:
    return [(i.severity, i.message) for i in impacts]


# ─── On a database ─────────────────────────────────────────────────────────────────────────
@pytest.fixture
def demo(engine):
    seed_demo(engine, jobs=0, bcrypt_rounds=4)
    return engine


@pytest.fixture
def admin_id(engine):
    return make_user(engine, "admin")


@pytest.fixture
def bulk(engine, admin_id):
    return BulkService(engine, user_id=admin_id)


def _ids(engine, *names) -> list[UUID]:
    with engine.connect() as conn:
        found = dict(
            conn.execute(
                sa.text("select display_name, id from api_models where display_name = any(:n)"), {"n": list(names)}
            ).all()
        )
    return [found[n] for n in names]


def _snapshot(engine) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(sa.text("select *, xmin::text from api_models order by id")).all()


def _row(engine, model_id) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("select * from api_models where id = :id"), {"id": model_id}).one()._mapping)


def test_deactivate_and_activate_several_models(demo, bulk):
    ids = _ids(demo, "Flux Schnell", "DALL·E 3", "GPT-4o mini")
    assert bulk.apply(ids, BulkChange.deactivate()) == 3
    assert [_row(demo, i)["is_active"] for i in ids] == [False, False, False]
    assert bulk.apply(ids, BulkChange.activate()) == 3
    assert [_row(demo, i)["is_active"] for i in ids] == [True, True, True]


def test_a_model_already_in_that_state_is_left_as_it_is(demo, bulk):
    ids = _ids(demo, "Flux Schnell", "Stable Diffusion 2.1")  # the second is inactive already
    untouched = _row(demo, ids[1])["updated_at"]
    assert bulk.apply(ids, BulkChange.deactivate()) == 1
    assert _row(demo, ids[1])["updated_at"] == untouched
    assert bulk.apply(ids, BulkChange.deactivate()) == 0


def test_one_bulk_change_is_one_transaction_in_the_audit_trail(demo, bulk):
    ids = _ids(demo, "Flux Schnell", "DALL·E 3", "GPT-4o mini")
    bulk.apply(ids, BulkChange.set_priority(9))
    with demo.connect() as conn:
        entries = conn.execute(
            sa.text(
                "select row_id, transaction, actor_id, new_row->>'priority' from dashboard.audit_log "
                "where row_id = any(:ids) and action = 'update'"
            ),
            {"ids": ids},
        ).all()
    assert sorted(e.row_id for e in entries) == sorted(ids)
    assert len({e.transaction for e in entries}) == 1 and {e.actor_id for e in entries} == {bulk.user_id}
    assert {e[3] for e in entries} == {"9"}


def test_set_priority_on_several_models(demo, bulk):
    ids = _ids(demo, "Flux Schnell", "Kling 1.6")
    assert bulk.apply([str(i) for i in ids], BulkChange.set_priority(7)) == 2
    assert [_row(demo, i)["priority"] for i in ids] == [7, 7]


def test_moving_to_another_provider_keeps_everything_else(demo, bulk):
    ids = _ids(demo, "SDXL 1.0", "RemBG")
    fal = _ids_of_provider(demo, "fal")
    before = [_row(demo, i) for i in ids]
    assert bulk.apply(ids, BulkChange.move_to(fal)) == 2
    for old, model_id in zip(before, ids, strict=True):
        new = _row(demo, model_id)
        assert new["provider_id"] == fal
        assert {k: v for k, v in new.items() if k not in ("provider_id", "updated_at")} == {
            k: v for k, v in old.items() if k not in ("provider_id", "updated_at")
        }


def _ids_of_provider(engine, name) -> UUID:
    with engine.connect() as conn:
        return conn.execute(sa.text("select id from api_providers where name = :n"), {"n": name}).scalar_one()


def test_one_missing_model_changes_nothing_at_all(demo, bulk):
    ids = _ids(demo, "Flux Schnell", "DALL·E 3")
    before = _snapshot(demo)
    with pytest.raises(ModelNotFound, match="1 of the 3 selected models"):
        bulk.apply([*ids, uuid4()], BulkChange.deactivate())
    assert _snapshot(demo) == before


def test_a_model_deleted_meanwhile_changes_nothing_at_all(demo, bulk):
    ids = _ids(demo, "Flux Schnell", "DALL·E 3")
    doomed = make_model(demo, _ids_of_provider(demo, "fal"), display_name="Doomed")
    with demo.begin() as conn:
        conn.execute(sa.text("delete from api_models where id = :id"), {"id": doomed})
    before = _snapshot(demo)
    with pytest.raises(ModelNotFound):
        bulk.apply([*ids, doomed], BulkChange.set_priority(3))
    assert _snapshot(demo) == before


@pytest.mark.parametrize("who", ["user", None])
def test_a_plain_user_or_a_visitor_changes_nothing_and_is_told_so(demo, who):
    person = make_user(demo, "user") if who else None
    ids = _ids(demo, "Flux Schnell", "DALL·E 3")
    before = _snapshot(demo)
    with pytest.raises(NotAllowed):
        BulkService(demo, user_id=person).apply(ids, BulkChange.deactivate())
    with pytest.raises(NotAllowed):
        BulkService(demo, user_id=person).reorder("image", "generation", ids)
    assert _snapshot(demo) == before


def test_a_plain_user_cannot_even_name_an_inactive_model(demo):
    viewer = BulkService(demo, user_id=make_user(demo, "user"))
    with pytest.raises(ModelNotFound):  # RLS hides inactive models from them
        viewer.review(_ids(demo, "Stable Diffusion 2.1"), BulkChange.activate())


def test_an_unknown_provider_is_refused_and_changes_nothing(demo, bulk):
    before = _snapshot(demo)
    with pytest.raises(ProviderNotFound):
        bulk.apply(_ids(demo, "Flux Schnell"), BulkChange.move_to(uuid4()))
    with pytest.raises(ProviderNotFound):
        bulk.review(_ids(demo, "Flux Schnell"), BulkChange.move_to(uuid4()))
    assert _snapshot(demo) == before


def test_deactivating_a_default_is_allowed_and_warned(demo, bulk):
    ids = _ids(demo, "Eleven Multilingual v2")
    assert _messages(bulk.impact(ids, BulkChange.deactivate())) == [
        ("warning", "The default for audio/tts (Eleven Multilingual v2) becomes inactive"),
        ("info", "audio/tts now routes to OpenAI TTS-1 instead of Eleven Multilingual v2"),
    ]
    bulk.apply(ids, BulkChange.deactivate())
    assert ModelService(demo, user_id=bulk.user_id).select_model(modality="audio", task="tts")["display_name"] == (
        "OpenAI TTS-1"
    )
    assert _row(demo, ids[0])["is_default"] is True  # still the default, now unusable: the Overview says so


def test_the_issues_examples_on_the_demo_catalogue(demo, bulk):
    ids = _ids(demo, "Real-ESRGAN 4×", "Clarity Upscaler", "SDXL 1.0")
    review = bulk.review(ids, BulkChange.deactivate())
    assert _messages(review.impacts) == [
        ("error", "image/upscale is left with no active model: its jobs cannot be routed"),
        ("warning", "The default for image/generation (SDXL 1.0) becomes inactive"),
        ("warning", "The default for image/upscale (Real-ESRGAN 4×) becomes inactive"),
        ("info", "image/generation now routes to Flux 1.1 Pro instead of SDXL 1.0"),
    ]
    assert review.has_errors
    assert [(r["model"], r["slot"], r["change"]) for r in review.models] == [
        ("Real-ESRGAN 4×", "image/upscale", "active → inactive"),
        ("Clarity Upscaler", "image/upscale", "active → inactive"),
        ("SDXL 1.0", "image/generation", "active → inactive"),
    ]


def test_a_move_to_an_inactive_provider_is_warned(demo, bulk):
    legacy = _ids_of_provider(demo, "legacy-diffusion")
    impacts = bulk.impact(_ids(demo, "Real-ESRGAN 4×"), BulkChange.move_to(legacy))
    assert _messages(impacts) == [
        (
            "warning",
            "The default for image/upscale (Real-ESRGAN 4×) moves to an inactive provider, Legacy Diffusion Cloud",
        ),
        ("info", "image/upscale now routes to Clarity Upscaler instead of Real-ESRGAN 4×"),
    ]


@pytest.mark.parametrize(
    "change",
    [
        BulkChange.deactivate(),
        BulkChange.activate(),
        BulkChange.set_priority(0),
        BulkChange.set_priority(3),
        "legacy-diffusion",
        "fal",
    ],
)
def test_the_impact_predicts_what_routing_does_afterwards(demo, bulk, change):
    if isinstance(change, str):
        change = BulkChange.move_to(_ids_of_provider(demo, change))
    ids = _ids(demo, "SDXL 1.0", "Flux Schnell", "Stable Diffusion 2.1", "Eleven Multilingual v2", "Clarity Upscaler")
    models = ModelService(demo, user_id=bulk.user_id)
    slots = [("image", "generation"), ("audio", "tts"), ("image", "upscale")]
    before = {s: (models.select_model(modality=s[0], task=s[1]) or {}).get("display_name") for s in slots}
    predicted = dict(before)
    for impact in bulk.impact(ids, change):
        if " now routes to " in impact.message:
            predicted[tuple(impact.slot.split("/"))] = impact.message.split(" now routes to ")[1].split(" instead")[0]
        elif "cannot be routed" in impact.message:
            predicted[tuple(impact.slot.split("/"))] = None
    bulk.apply(ids, change)
    assert {s: (models.select_model(modality=s[0], task=s[1]) or {}).get("display_name") for s in slots} == predicted


# ─── Reordering a slot ─────────────────────────────────────────────────────────────────────
def test_reorder_keeps_what_numbers_it_can_and_changes_the_pick(demo, bulk):
    models = bulk.slot_models("image", "generation")
    assert [(m["display_name"], m["priority"]) for m in models] == [
        ("SDXL 1.0", 1),
        ("Flux 1.1 Pro", 2),
        ("Flux Schnell", 3),
        ("DALL·E 3", 4),
        ("Stable Diffusion 1.5", 5),
        ("Stable Diffusion 2.1", 9),
    ]
    order = [m["id"] for m in reversed(models)]
    # Reversed, at most one model can keep its number: Flux Schnell keeps 3, the rest take the numbers around it.
    assert bulk.reorder("image", "generation", order, expected_ids=[m["id"] for m in models]) == 5
    assert [(m["display_name"], m["priority"]) for m in bulk.slot_models("image", "generation")] == [
        ("Stable Diffusion 2.1", 0),
        ("Stable Diffusion 1.5", 1),
        ("DALL·E 3", 2),
        ("Flux Schnell", 3),
        ("Flux 1.1 Pro", 4),
        ("SDXL 1.0", 5),
    ]
    # The two first are inactive or on an inactive provider: routing picks DALL·E 3, as pick() predicts.
    assert pick(renumbered(models, order))["display_name"] == "DALL·E 3"
    assert (
        ModelService(demo, user_id=bulk.user_id).select_model(modality="image", task="generation")["display_name"]
        == "DALL·E 3"
    )
    assert bulk.reorder("image", "generation", order) == 0  # already in that order: nothing is written


def test_moving_one_model_renumbers_only_that_model(demo, bulk):
    models = bulk.slot_models("image", "generation")
    ids = [m["id"] for m in models]
    to_top = [ids[3], *ids[:3], *ids[4:]]  # DALL·E 3 first: 0 is free above SDXL 1.0's 1
    assert bulk.reorder("image", "generation", to_top, expected_ids=ids) == 1
    assert [(m["display_name"], m["priority"]) for m in bulk.slot_models("image", "generation")] == [
        ("DALL·E 3", 0),
        ("SDXL 1.0", 1),
        ("Flux 1.1 Pro", 2),
        ("Flux Schnell", 3),
        ("Stable Diffusion 1.5", 5),
        ("Stable Diffusion 2.1", 9),
    ]
    ids = to_top
    between = [*ids[:4], ids[5], ids[4]]  # 2.1 above 1.5: takes 4, free between Flux Schnell's 3 and 1.5's 5
    assert bulk.reorder("image", "generation", between) == 1
    assert [m["priority"] for m in bulk.slot_models("image", "generation")] == [0, 1, 2, 3, 4, 5]


def test_reorder_is_refused_when_the_slot_changed_since_it_was_loaded(demo, bulk):
    models = bulk.slot_models("audio", "tts")
    make_model(demo, _ids_of_provider(demo, "fal"), display_name="Newcomer", modality="audio", task="tts")
    before = _snapshot(demo)
    with pytest.raises(EditConflict, match="1 added"):
        bulk.reorder("audio", "tts", [m["id"] for m in models], expected_ids=[m["id"] for m in models])
    assert _snapshot(demo) == before


def test_reorder_refuses_a_model_of_another_slot_a_gap_and_a_repeat(demo, bulk):
    tts = [m["id"] for m in bulk.slot_models("audio", "tts")]
    stranger = _ids(demo, "SDXL 1.0")[0]
    before = _snapshot(demo)
    with pytest.raises(InvalidModel, match="1 of the models are not in audio/tts"):
        bulk.reorder("audio", "tts", [*tts, stranger])
    with pytest.raises(InvalidModel, match="leaves out 1"):
        bulk.reorder("audio", "tts", tts[:-1])
    with pytest.raises(InvalidModel, match="more than once"):
        bulk.reorder("audio", "tts", [*tts, tts[0]])
    with pytest.raises(InvalidModel):
        bulk.reorder("audio'; drop table api_models; --", "tts", tts)
    with pytest.raises(InvalidModel):
        bulk.reorder("audio", "tts", ["1 or 1=1", *tts[1:]])
    assert _snapshot(demo) == before


# ─── Concurrency and hostile input ─────────────────────────────────────────────────────────
def test_overlapping_bulk_changes_and_default_clicks_at_the_same_time_keep_the_rules(engine, admin_id):
    provider = make_provider(engine)
    ids = [make_model(engine, provider, display_name=f"M{n}", priority=n, is_default=n == 0) for n in range(8)]
    calls = {
        "deactivate": lambda s: s.apply(ids[0:5], BulkChange.deactivate()),
        "activate": lambda s: s.apply(ids[3:8], BulkChange.activate()),
        "priority": lambda s: s.apply(ids[2:7], BulkChange.set_priority(4)),
        "default": lambda s: ModelService(engine, user_id=admin_id).set_default(ids[7]),
        "reorder": lambda s: s.reorder("image", "generation", list(reversed(ids))),
    }
    for _round in range(4):
        _results, errors = run_together(lambda name: calls[name](BulkService(engine, user_id=admin_id)), list(calls))
        assert errors == []
        with engine.connect() as conn:
            assert conn.execute(sa.text("select count(*) from api_models where is_default")).scalar() == 1
            assert conn.execute(sa.text("select count(*) from api_models")).scalar() == 8
            # Each change happened whole: a bulk change's models share their new value.
            actives = dict(conn.execute(sa.text("select id, is_active from api_models")).all())
            assert len({actives[i] for i in ids[0:3]}) == 1 and len({actives[i] for i in ids[5:8]}) == 1


def test_two_bulk_changes_of_the_same_models_in_opposite_orders_do_not_deadlock(engine, admin_id):
    provider = make_provider(engine)
    ids = [make_model(engine, provider, task=f"task-{n % 3}") for n in range(12)]
    for _round in range(5):
        _results, errors = run_together(
            lambda order: BulkService(engine, user_id=admin_id).apply(order, BulkChange.set_priority(len(order))),
            [ids, list(reversed(ids)), ids[::2], ids[::-3]],
        )
        assert errors == []


@pytest.mark.parametrize(
    "ids",
    [
        ["'; update api_models set is_active = false; --"],
        ["00000000-0000-0000-0000-000000000000' or '1'='1"],
        "select id from api_models",
    ],
)
def test_hostile_ids_reach_no_query(demo, bulk, ids):
    before = _snapshot(demo)
    with pytest.raises(InvalidModel):
        bulk.apply(ids, BulkChange.deactivate())
    assert _snapshot(demo) == before


def test_a_huge_selection_is_refused_before_any_query(demo, bulk):
    with pytest.raises(InvalidModel, match="at most 1,000"):
        bulk.apply([str(uuid4()) for _ in range(100_000)], BulkChange.deactivate())


def test_hostile_names_are_quoted_as_text_in_the_impact(engine, bulk):
    name = "[x](javascript:alert(1)) <b>'; drop table api_models; --"
    model = make_model(engine, make_provider(engine), display_name=name, is_default=True, task="dub")
    assert _messages(bulk.impact([model], BulkChange.deactivate())) == [
        ("error", "image/dub is left with no active model: its jobs cannot be routed"),
        ("warning", f"The default for image/dub ({name}) becomes inactive"),
    ]
    assert bulk.apply([model], BulkChange.deactivate()) == 1


# ─── Which priorities a new order changes (pure) ─────────────────────────────────────────────
def _apply_order(priorities: list[int], order: list[int]) -> tuple[list[int], int]:
    ids = [uuid4() for _ in priorities]
    new = reorder_priorities(dict(zip(ids, priorities, strict=True)), [ids[i] for i in order])
    return [new.get(ids[i], priorities[i]) for i in order], len(new)


@pytest.mark.parametrize(
    ("priorities", "order", "after", "changed"),
    [
        ([1, 2, 3, 4, 5], [4, 0, 1, 2, 3], [0, 1, 2, 3, 4], 1),  # to the top: 0 is free
        ([1, 2, 3, 4, 5], [1, 2, 3, 4, 0], [2, 3, 4, 5, 6], 1),  # to the bottom: the next number
        ([10, 20, 30, 40], [0, 3, 1, 2], [10, 15, 20, 30], 1),  # into a gap: its middle
        ([10, 20, 30, 40], [1, 2, 3, 0], [20, 30, 40, 50], 1),  # after the last: the slot's own step
        ([1, 2, 3, 4], [0, 3, 1, 2], [0, 1, 2, 3], 2),  # no number free between 1 and 2: the fewest others move
        ([0, 0, 0], [2, 0, 1], [0, 1, 2], 2),  # ties cannot say an order: numbers that do
        ([-5, 7], [0, 1], [-5, 7], 0),  # already in this order: nothing
        ([2**31 - 1, 2**31 - 1], [0, 1], [2**31 - 2, 2**31 - 1], 1),  # never past PostgreSQL's integer
        ([-(2**31), -(2**31)], [1, 0], [-(2**31), -(2**31) + 1], 1),
    ],
)
def test_a_new_order_changes_as_few_priorities_as_it_can(priorities, order, after, changed):
    assert _apply_order(priorities, order) == (after, changed)


def test_every_order_routes_as_asked_within_bounds_and_as_few_changes_as_possible():
    rng = random.Random(16)
    for _ in range(300):
        n = rng.randint(1, 6)
        priorities = [rng.choice([rng.randint(-2, 12), 2**31 - 1 - rng.randint(0, 2)]) for _ in range(n)]
        order = list(range(n))
        rng.shuffle(order)
        after, changed = _apply_order(priorities, order)
        assert all(a < b for a, b in itertools.pairwise(after))  # strictly increasing: the order is the order
        assert all(-(2**31) <= p <= 2**31 - 1 for p in after)
        # No set of more models could have kept their numbers (brute force over every subset).
        floor = min(0, *priorities)
        best = max(
            len(keep)
            for size in range(n + 1)
            for keep in itertools.combinations(range(n), size)
            if _keepable([priorities[order[i]] for i in keep], list(keep), n, floor)
        )
        assert changed == n - best


def _keepable(values: list[int], places: list[int], n: int, floor: int) -> bool:
    """Whether models at these places can keep these numbers with every other model given a whole number."""
    bounds = [(floor + p, 2**31 - 1 - (n - 1 - p)) for p in places]
    if any(not lo <= v <= hi for v, (lo, hi) in zip(values, bounds, strict=True)):
        return False
    return all(b - a >= q - p for (a, p), (b, q) in itertools.pairwise(zip(values, places, strict=True)))


def test_the_note_says_what_moves_and_why():
    a, b, c, d = (
        {"id": uuid4(), "display_name": name, "priority": n}
        for n, name in enumerate(["A", "B", "C", hostile.SQL], start=1)
    )
    models = [a, b, c, d]
    assert renumbering_note(models, [a["id"], b["id"], c["id"], d["id"]]) == ""
    assert renumbering_note(models, [d["id"], a["id"], b["id"], c["id"]]) == (
        "Saving changes 1 of 4 priorities; the other models keep theirs."
    )
    squeezed = renumbering_note(models, [a["id"], d["id"], b["id"], c["id"]])
    assert squeezed == (
        "Saving changes 2 of 4 priorities; the other models keep theirs. There is no free priority "
        f"number between A (1) and B (2) for {hostile.SQL}, so others move with it."
    )
