"""The Routing preview built from the seed query's ranking and the slot's models (pure: no database)."""

from __future__ import annotations

from uuid import uuid4

from dashboard.services.routing import build_preview, preview_as_dict, preview_as_text
from tests import hostile


def _model(name, priority=1, *, default=False, active=True, provider_active=True):
    return {
        "id": uuid4(),
        "display_name": name,
        "model_key": f"key/{name}",
        "priority": priority,
        "is_default": default,
        "is_active": active,
        "provider_active": provider_active,
        "provider_name": "Replicate",
        "provider_key": "replicate",
    }


def _ranked(*models):
    """The seed's routing query returns only models that can take jobs, in its order."""
    return [{"id": m["id"], "display_name": m["display_name"], "provider_name": m["provider_name"]} for m in models]


def test_the_pick_the_fallbacks_and_who_is_left_out_and_why():
    first, second = _model("Flux", 1), _model("SDXL", 2, default=True)
    off, orphan = _model("Old", 0, active=False), _model("Orphan", 0, provider_active=False)
    preview = build_preview("image", "generation", _ranked(first, second), [second, off, first, orphan])
    assert preview.slot == "image/generation"
    assert preview.picked.display_name == "Flux" and [m.display_name for m in preview.fallbacks] == ["SDXL"]
    assert {m.display_name: m.reason for m in preview.excluded} == {
        "Old": "model inactive",
        "Orphan": "provider Replicate inactive",
    }
    messages = [w.message for w in preview.warnings]
    assert messages == [
        "Routing does not pick the default for image/generation, SDXL: Flux comes first (a lower "
        "priority number, 1 < 2)"
    ]
    assert not preview.has_errors


def test_a_slot_nothing_can_take_is_an_error_and_says_so_in_text_and_json():
    off = _model("Old", 1, default=True, active=False)
    preview = build_preview("audio", "tts", [], [off])
    assert preview.picked is None and preview.has_errors
    assert "cannot be routed" in preview_as_text(preview)
    assert preview_as_dict(preview)["picked"] is None


def test_hostile_names_stay_text_in_the_preview():
    models = [_model(name, n) for n, name in enumerate(hostile.TEXT, start=1)]
    preview = build_preview("text", "chat", _ranked(*models), models)
    assert [m.display_name for m in preview.candidates] == list(hostile.TEXT)
    assert preview_as_dict(preview)["picked"]["display_name"] == hostile.TEXT[0]
