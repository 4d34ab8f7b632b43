"""Bulk changes in memory (pure: no database): what a change does to each slot's routing, and its input checks."""

from __future__ import annotations

from uuid import uuid4

import pytest

from dashboard.services import InvalidModel
from dashboard.services.bulk import MAX_MODELS, BulkChange, catalogue_impact, changed, clean_ids, reordered
from dashboard.services.routing_rules import pick, routing_key, slot_impact


def _m(name, priority=1, *, default=False, active=True, provider_active=True, slot=("image", "upscale")):
    return {
        "id": uuid4(),
        "display_name": name,
        "modality": slot[0],
        "task": slot[1],
        "priority": priority,
        "is_default": default,
        "is_active": active,
        "provider_id": None,
        "provider_name": "Replicate",
        "provider_active": provider_active,
    }


def _messages(impacts) -> list[tuple[str, str]]:
    return [(i.severity, i.message) for i in impacts]


def test_the_routing_order_is_the_seeds_priority_then_default_then_name():
    late, tied_default, tied, first = _m("B", 2), _m("Z", 2, default=True), _m("A", 2), _m("Q", 1)
    assert sorted([late, tied_default, tied, first], key=routing_key) == [first, tied_default, tied, late]
    assert pick([_m("Off", 0, active=False), _m("Orphan", 0, provider_active=False), late])["display_name"] == "B"
    assert pick([_m("Off", active=False)]) is None


def test_a_slot_left_with_no_active_model_is_an_error_and_its_inactive_default_a_warning():
    default, other = _m("Real-ESRGAN 4×", default=True), _m("Clarity Upscaler", 2)
    change = BulkChange.deactivate()
    after = [changed(default, change), changed(other, change)]
    assert _messages(slot_impact("image/upscale", [default, other], after)) == [
        ("error", "image/upscale is left with no active model: its jobs cannot be routed"),
        ("warning", "The default for image/upscale (Real-ESRGAN 4×) becomes inactive"),
    ]


def test_a_slot_whose_models_are_all_on_inactive_providers_is_an_error_too():
    model = _m("Only")
    after = [changed(model, BulkChange.move_to(uuid4()), {"provider_name": "Dormant", "provider_active": False})]
    assert _messages(slot_impact("audio/dub", [model], after)) == [
        ("error", "audio/dub is left with no model on an active provider: its jobs cannot be routed")
    ]


def test_the_new_pick_is_named_and_a_default_moved_to_an_inactive_provider_is_a_warning():
    default, second = _m("Eleven Multilingual v2", default=True), _m("OpenAI TTS-1", 2)
    after = [
        changed(default, BulkChange.move_to(uuid4()), {"provider_name": "Legacy", "provider_active": False}),
        second,
    ]
    assert _messages(slot_impact("audio/tts", [default, second], after)) == [
        ("warning", "The default for audio/tts (Eleven Multilingual v2) moves to an inactive provider, Legacy"),
        ("info", "audio/tts now routes to OpenAI TTS-1 instead of Eleven Multilingual v2"),
    ]


def test_a_default_passed_over_by_a_lower_priority_number_is_a_warning():
    default, flux = _m("SDXL 1.0", 1, default=True), _m("Flux 1.1 Pro", 2)
    after = [default, changed(flux, BulkChange.set_priority(0))]
    assert _messages(slot_impact("image/generation", [default, flux], after)) == [
        (
            "warning",
            "image/generation now routes to Flux 1.1 Pro instead of its default SDXL 1.0: Flux 1.1 Pro has a "
            "lower priority number (0 < 1)",
        )
    ]


def test_a_new_tie_at_the_top_is_a_warning_but_an_unchanged_slot_says_nothing():
    one, two = _m("One", 1), _m("Two", 2)
    assert _messages(slot_impact("text/chat", [one, two], [one, changed(two, BulkChange.set_priority(1))])) == [
        ("warning", "One and Two share priority 1 at the top of text/chat: routing may pick either")
    ]
    assert slot_impact("text/chat", [one, two], [one, changed(two, BulkChange.set_priority(5))]) == []


def test_activating_says_what_can_take_jobs_again():
    off = _m("Back", default=True, active=False)
    assert _messages(slot_impact("video/generation", [off], [changed(off, BulkChange.activate())])) == [
        ("info", "video/generation can take jobs again: it routes to Back"),
        ("info", "The default for video/generation (Back) can take jobs again"),
    ]


def test_the_catalogue_impact_puts_errors_first_and_counts_models_that_do_not_change():
    upscale = [_m("Up", default=True), _m("Up 2", 2)]
    tts = [_m("Voice", default=True, slot=("audio", "tts")), _m("Voice 2", 2, active=False, slot=("audio", "tts"))]
    untouched = [_m("Other", slot=("text", "chat"), active=False)]
    selected = [upscale[0]["id"], upscale[1]["id"], tts[1]["id"]]
    impacts = catalogue_impact(upscale + tts + untouched, selected, BulkChange.deactivate(), None)
    assert [i.severity for i in impacts] == ["error", "warning", "info"]
    assert impacts[-1].message == "1 of the 3 selected models are already inactive: nothing changes for them"
    assert {i.slot for i in impacts} == {"image/upscale", ""}


def test_reordered_numbers_the_slot_from_one():
    a, b, c = _m("A", 5), _m("B", 1), _m("C", 1)
    assert [(m["display_name"], m["priority"]) for m in reordered([a, b, c], [c["id"], a["id"], b["id"]])] == [
        ("C", 1),
        ("A", 2),
        ("B", 3),
    ]


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: BulkChange("delete"), "change"),
        (lambda: BulkChange("'; drop table api_models; --"), "change"),
        (lambda: BulkChange.set_priority(None), "priority"),
        (lambda: BulkChange.set_priority(2**31), "priority"),
        (lambda: BulkChange.set_priority(-(2**31) - 1), "priority"),
        (lambda: BulkChange.set_priority(True), "priority"),
        (lambda: BulkChange.set_priority(1.5), "priority"),
        (lambda: BulkChange.set_priority("1; drop table api_models"), "priority"),
        (lambda: BulkChange.set_priority("1e3"), "priority"),
        (lambda: BulkChange("activate", priority=3), "priority"),
        (lambda: BulkChange.move_to(None), "provider_id"),
        (lambda: BulkChange.move_to("not-a-uuid"), "provider_id"),
        (lambda: BulkChange.move_to("\x00"), "provider_id"),
        (lambda: BulkChange("deactivate", provider_id=uuid4()), "provider_id"),
    ],
)
def test_a_change_is_checked_when_it_is_made(make, field):
    with pytest.raises(InvalidModel) as caught:
        make()
    assert set(caught.value.problems) == {field}


def test_a_priority_as_text_is_read_as_the_editor_reads_it():
    assert BulkChange.set_priority(" 7 ").priority == 7
    assert BulkChange.set_priority(2**31 - 1).priority == 2**31 - 1


@pytest.mark.parametrize(
    "ids",
    [
        [],
        "550e8400-e29b-41d4-a716-446655440000",
        None,
        42,
        ["1; drop table api_models"],
        [""],
        ["a\x00b"],
        [uuid4() for _ in range(MAX_MODELS + 1)],
        [{"id": 1}],
    ],
)
def test_hostile_id_lists_are_refused_without_echoing_them(ids):
    with pytest.raises(InvalidModel) as caught:
        clean_ids(ids)
    assert "drop" not in str(caught.value) and "\x00" not in str(caught.value)


def test_ids_are_kept_in_order_without_repeats():
    a, b = uuid4(), uuid4()
    assert clean_ids([str(a), b, a]) == [a, b]
