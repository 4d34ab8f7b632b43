"""Routing preview: the seed's ranking, the pick and fallbacks, the excluded with reasons, and the warnings."""

from __future__ import annotations

import random

import pytest
import sqlalchemy as sa

from dashboard.services import InvalidModel
from dashboard.services.routing import RoutingService
from tests import hostile
from tests.factories import make_model, make_provider, make_user


@pytest.fixture
def admin(engine):
    return make_user(engine, "admin")


def _preview(engine, user, modality="image", task="generation"):
    return RoutingService(engine, user_id=user).preview(modality=modality, task=task)


def _messages(preview) -> str:
    return " | ".join(w.message for w in preview.warnings)


def test_ranked_candidates_pick_fallbacks_and_exclusions(engine, admin):
    live, dead = make_provider(engine), make_provider(engine, name="dead", display_name="Dead", is_active=False)
    best = make_model(engine, live, display_name="Best", priority=1, is_default=True, input_defaults={"width": 512})
    second = make_model(engine, live, display_name="Second", priority=2)
    make_model(engine, live, display_name="Off", priority=0, is_active=False)
    make_model(engine, dead, display_name="Orphan", priority=0)
    make_model(engine, dead, display_name="Both", priority=0, is_active=False)
    make_model(engine, live, display_name="Elsewhere", task="upscale")
    preview = _preview(engine, admin)
    assert [(c.rank, c.display_name) for c in preview.candidates] == [(1, "Best"), (2, "Second")]
    assert preview.picked.id == best and [f.id for f in preview.fallbacks] == [second]
    assert preview.picked_row["input_defaults"] == {"width": 512}
    assert {e.display_name: e.reason for e in preview.excluded} == {
        "Off": "model inactive",
        "Orphan": "provider Dead inactive",  # its display name, as every screen names a provider
        "Both": "model inactive and provider Dead inactive",
    }
    assert preview.warnings == []


def test_a_slot_with_no_candidate_is_an_error(engine, admin):
    make_model(engine, make_provider(engine), display_name="Off", is_active=False, is_default=True)
    preview = _preview(engine, admin)
    assert preview.picked is None and preview.has_errors
    assert [(w.severity, w.code, w.message) for w in preview.warnings] == [
        ("error", "no_active_model", "image/generation has no active model: its jobs cannot be routed"),
        ("warning", "default_inactive", "The default for image/generation, Off, is inactive"),
    ]


def test_no_default_a_default_not_picked_and_ties_at_the_top(engine, admin):
    provider = make_provider(engine)
    make_model(engine, provider, display_name="A", priority=1)
    make_model(engine, provider, display_name="B", priority=1)
    assert "image/generation has 2 active model(s) but no default" in _messages(_preview(engine, admin))
    assert "A and B share priority 1 at the top" in _messages(_preview(engine, admin))
    make_model(engine, provider, display_name="D", priority=5, is_default=True)
    said = _messages(_preview(engine, admin))
    assert "the default for image/generation, D: A comes first (a lower priority number, 1 < 5)" in said
    assert "no default" not in said


def test_a_default_on_an_inactive_provider_is_named(engine, admin):
    dead = make_provider(engine, name="gone", display_name=hostile.LINK, is_active=False)
    make_model(engine, dead, display_name="D", is_default=True)
    make_model(engine, make_provider(engine), display_name="Live")
    preview = _preview(engine, admin)
    assert preview.picked.display_name == "Live"
    assert f"The default for image/generation, D, is on an inactive provider, {hostile.LINK}" in _messages(preview)


def test_every_slot_at_once(engine, admin):
    provider = make_provider(engine)
    make_model(engine, provider, modality="audio", task="tts", is_default=True)
    make_model(engine, provider, modality="image", task="upscale", is_active=False)
    previews = RoutingService(engine, user_id=admin).preview_all()
    assert [p.slot for p in previews] == ["audio/tts", "image/upscale"]
    assert [p.has_errors for p in previews] == [False, True]


@pytest.mark.parametrize("who", ["admin", "user"])
def test_every_slot_at_once_is_each_slots_preview_from_two_queries(engine, admin, who):
    """preview_all ranks by routing_rules (two reads, whatever the number of slots); each slot's preview runs
    the seed's routing query: on a random catalogue with ties, hostile names and inactive providers they agree."""
    rng = random.Random(7)
    providers = [make_provider(engine), make_provider(engine, is_active=False), make_provider(engine)]
    names = ["Same", "same", "Ä", hostile.LINK, *hostile.TEXT]
    for n in range(40):
        make_model(
            engine,
            rng.choice(providers),
            display_name=rng.choice(names) + ("" if n % 3 else f" {n}"),
            modality=rng.choice(["image", "audio"]),
            task=rng.choice(["generation", "tts", "upscale"]),
            priority=rng.randint(1, 3),
            is_active=rng.random() > 0.2,
        )
    viewer = admin if who == "admin" else make_user(engine)
    service = RoutingService(engine, user_id=viewer)
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        every = service.preview_all()
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert len([s for s in statements if "api_models" in s]) == 2
    assert every == [service.preview(modality=p.modality, task=p.task) for p in every]
    assert len(every) >= 4


def test_a_plain_user_sees_what_rls_shows_them(engine):
    provider = make_provider(engine)
    make_model(engine, provider, display_name="On", is_default=True)
    make_model(engine, provider, display_name="Off", is_active=False)
    preview = _preview(engine, make_user(engine))
    assert [c.display_name for c in preview.candidates] == ["On"] and preview.excluded == []


@pytest.mark.parametrize("hostile", ["image' or '1'='1", "<script>alert(1)</script>", "a\x00b", "x" * 10_000, None, 3])
def test_hostile_slots_are_refused_by_name_and_change_nothing(engine, admin, hostile):
    make_model(engine, make_provider(engine), display_name="On", is_default=True)
    with pytest.raises(InvalidModel) as refused:
        _preview(engine, admin, modality=hostile, task=hostile)
    assert set(refused.value.problems) == {"modality", "task"}
    with pytest.raises(InvalidModel, match="task"):
        _preview(engine, admin, task=hostile)
    assert [c.display_name for c in _preview(engine, admin).candidates] == ["On"]


def test_an_unknown_but_well_formed_task_is_an_empty_slot(engine, admin):
    preview = _preview(engine, admin, task="no-such-task")
    # Nothing to route and nothing to make a default: one error says so (a default is worth a finding only when
    # some model could take the jobs).
    assert preview.candidates == [] and preview.has_errors
    assert _messages(preview) == "image/no-such-task has no model: its jobs cannot be routed"


def test_the_models_table_sorted_as_routing_lists_a_slot_in_the_order_routing_picks(engine, admin):
    """The Models page's "Priority, then name (as routing)" and "Modality, task, priority" sorts are the seed's
    routing order (priority, is_default DESC), not priority then name: a default named Zeta comes before an Alpha
    of the same priority, as routing picks it."""
    from dashboard.services.catalogue import CatalogueService, ModelFilters

    provider = make_provider(engine)
    make_model(engine, provider, display_name="Alpha", priority=1, modality="audio", task="tts")
    make_model(engine, provider, display_name="Zeta", priority=1, modality="audio", task="tts", is_default=True)
    make_model(engine, provider, display_name="Beta", priority=0, modality="audio", task="tts")
    routed = [
        c.display_name for c in RoutingService(engine, user_id=admin).preview(modality="audio", task="tts").candidates
    ]
    catalogue = CatalogueService(engine, user_id=admin)
    for sort in ("priority", "slot"):
        rows, _ = catalogue.browse_models(ModelFilters(task="tts", sort=sort))
        assert [r["display_name"] for r in rows] == routed == ["Beta", "Zeta", "Alpha"], sort


def test_the_slot_summary_picks_what_the_routing_preview_picks_and_warns_of_a_passed_over_default(engine, admin):
    """The Overview and the Defaults grid read the pick from SQL; it must be the routing preview's pick."""
    from dashboard.services.catalogue import CatalogueService, slot_warnings

    provider, off = make_provider(engine), make_provider(engine, is_active=False)
    make_model(engine, provider, display_name="Default", priority=2, modality="video", task="upscale", is_default=True)
    make_model(engine, provider, display_name="Cheaper", priority=1, modality="video", task="upscale")
    make_model(engine, off, display_name="Off", priority=0, modality="video", task="upscale")
    make_model(
        engine, provider, display_name="Tie default", priority=1, modality="audio", task="music", is_default=True
    )
    make_model(engine, provider, display_name="A tie", priority=1, modality="audio", task="music")
    slots = {s.label: s for s in CatalogueService(engine, user_id=admin).list_slots()}
    for label in ("video/upscale", "audio/music"):
        modality, task = label.split("/")
        assert slots[label].picked_name == _preview(engine, admin, modality, task).candidates[0].display_name
    assert [w.message for w in slot_warnings([slots["video/upscale"]])] == [
        "Routing does not pick the default for video/upscale, Default: Cheaper comes first (a lower priority number, "
        "1 < 2)"
    ]
    assert slot_warnings([slots["audio/music"]]) == []  # a tie goes to the default (is_default DESC)
