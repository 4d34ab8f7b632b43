"""The one-default-per-slot protocol in memory: what a change does to its slots, said before it is made."""

from uuid import UUID

from dashboard.services.default_slot import after_changes, default_refusal, review
from tests import hostile


def _model(
    n, name, *, modality="image", task="generation", default=False, active=True, provider_active=True, priority=1
):
    return {
        "id": UUID(int=n),
        "display_name": name,
        "modality": modality,
        "task": task,
        "priority": priority,
        "is_default": default,
        "is_active": active,
        "provider_name": "Acme",
        "provider_active": provider_active,
    }


def _said(before, changed):
    return [i.message for i in review(before, after_changes(before, changed))]


def test_moving_a_default_to_another_slot_is_called_out():
    acme, veo = _model(1, "Acme", default=True), _model(2, "Veo", modality="video", default=True)
    said = _said([acme, veo], [{**acme, "modality": "video"}])
    assert "Acme moves from image/generation to video/generation: jobs for image/generation no longer reach it" in said
    assert "image/generation is left without a default: Acme stops being its default" in said
    assert "Acme becomes the default for video/generation, replacing Veo" in said
    assert said[0].startswith("image/generation is left with no active model")  # worst first: an error


def test_giving_up_a_default_is_called_out():
    acme, other = _model(1, "Acme", default=True), _model(2, "Other", priority=5)
    assert _said([acme, other], [{**acme, "is_default": False}]) == [
        "image/generation is left without a default: Acme stops being its default"
    ]


def test_taking_a_default_unsets_the_old_one_and_names_it():
    old, new = _model(1, hostile.SCRIPT, default=True), _model(2, "New", priority=9)
    after = after_changes([old, new], [{**new, "is_default": True}])
    assert [m["is_default"] for m in after] == [False, True]  # one default per slot, as the write leaves it
    assert f"New becomes the default for image/generation, replacing {hostile.SCRIPT}" in _said(
        [old, new], [{**new, "is_default": True}]
    )


def test_a_default_must_be_able_to_take_jobs():
    assert default_refusal(_model(1, "A")) is None
    assert "inactive model cannot" in default_refusal(_model(1, "A", active=False))
    assert "provider Acme is inactive" in default_refusal(_model(1, "A", provider_active=False))
