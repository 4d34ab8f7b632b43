"""The editor's save use case without a database: drafts, what a save would write, confirmations, reapply."""

import json
from uuid import UUID

from dashboard.services.diff import reapply
from dashboard.services.editing import FORM_FIELDS, draft_from_row, review, save_draft
from dashboard.services.models import Saved

PROVIDER = UUID("00000000-0000-0000-0000-00000000000a")
ROW = {
    "id": UUID("00000000-0000-0000-0000-000000000001"),
    "row_version": "100",
    "provider_id": PROVIDER,
    "model_key": "acme/model",
    "display_name": "Acme",
    "version": None,
    "model_family": "acme",
    "modality": "image",
    "task": "generation",
    "endpoint_path": None,
    "output_format": None,
    "input_defaults": {"width": 1024},
    "capabilities": {"supports_negative_prompts": True},
    "pricing": {"per_image": 0.002, "currency": "USD", "billing_unit": "per_image"},
    "priority": 3,
    "is_active": True,
    "is_default": True,
}


class NoWrites:
    """A ModelService stand-in that fails the test if anything is written."""

    def update(self, *args, **kwargs):
        raise AssertionError(f"nothing may be written: update{args}")

    def create(self, *args, **kwargs):
        raise AssertionError(f"nothing may be written: create{args}")


class Recorder:
    def __init__(self):
        self.calls = []

    def update(self, model_id, changes, *, expected_version=None):
        self.calls.append(("update", model_id, dict(changes), expected_version))
        return Saved({**ROW, **changes})

    def create(self, fields):
        self.calls.append(("create", dict(fields)))
        return Saved({**fields, "id": UUID(int=9)})


def test_a_draft_holds_every_field_as_stored():
    draft = draft_from_row(ROW)
    assert set(draft) == set(FORM_FIELDS)
    assert draft["provider_id"] == str(PROVIDER) and draft["priority"] == 3 and draft["version"] == ""
    assert review(draft, ROW).changes == []


def test_an_incomplete_draft_is_refused_and_nothing_is_written():
    draft = {"display_name": "Renamed"}  # what a form read back from a half-drawn page would have
    result = save_draft(NoWrites(), draft, ROW, {"display_name"})
    assert result.status == "incomplete"
    assert "nothing was saved" in result.message and "pricing" in result.message


def test_only_the_fields_that_changed_are_sent():
    draft = {**draft_from_row(ROW), "display_name": "Renamed"}
    models = Recorder()
    result = save_draft(models, draft, ROW, {"display_name"})
    assert result.status == "saved"
    assert models.calls == [("update", ROW["id"], {"display_name": "Renamed"}, "100")]


def test_a_change_the_person_did_not_make_needs_confirming():
    draft = {**draft_from_row(ROW), "display_name": "Renamed", "provider_id": str(UUID(int=5)), "priority": 0}
    result = save_draft(NoWrites(), draft, ROW, {"display_name"})
    assert result.status == "confirm"
    assert result.unedited == ["provider_id", "priority"]
    assert "You did not edit: provider, priority." in result.message
    models = Recorder()
    assert save_draft(models, draft, ROW, {"display_name"}, confirmed=True).status == "saved"
    assert models.calls[0][2] == {"display_name": "Renamed", "provider_id": UUID(int=5), "priority": 0}


def test_an_untouched_stored_value_that_fails_todays_checks_is_kept_not_blocking():
    deep = {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": 1}}}}}}}}}}
    row = {**ROW, "capabilities": deep, "display_name": "line\nbreak **bold**"}
    draft = {**draft_from_row(row), "priority": 4}
    checked = review(draft, row)
    assert checked.problems == {}
    assert "capabilities" in " ".join(checked.kept)
    models = Recorder()
    assert save_draft(models, draft, row, {"priority"}).status == "saved"
    assert models.calls[0][2] == {"priority": 4}  # neither the name nor the JSON is rewritten


def test_an_edited_field_is_validated():
    pricing = '{"per_image": 0.003, "currency": "dollars", "billing_unit": "per_image"}'
    draft = {**draft_from_row(ROW), "pricing": pricing}
    result = save_draft(NoWrites(), draft, ROW, {"pricing"})
    assert result.status == "invalid" and "pricing.currency" in result.review.problems


def test_a_new_model_flags_fields_that_differ_from_its_template_only_when_not_edited():
    template = {
        "modality": "image",
        "task": "generation",
        "priority": 0,
        "is_active": True,
        "is_default": False,
        "input_defaults": {},
        "capabilities": {},
        "pricing": {},
    }
    base = draft_from_row(template)
    draft = {**base, "display_name": "New", "model_key": "acme/new", "provider_id": str(PROVIDER)}
    models = Recorder()
    edited = {"display_name", "model_key", "provider_id"}
    assert save_draft(models, draft, {}, edited, base=base).status == "saved"
    assert models.calls[0][0] == "create"
    odd = {**draft, "priority": -(2**31)}  # a widget default, not the person's
    assert save_draft(NoWrites(), odd, {}, edited, base=base).unedited == ["priority"]


def test_reapply_keeps_exactly_my_edited_fields_on_the_latest_version():
    opened = draft_from_row(ROW)
    current = draft_from_row({**ROW, "model_family": "theirs", "pricing": {**ROW["pricing"], "per_image": 0.01}})
    # My draft: display_name edited; provider, task, priority and pricing hold widget defaults I never touched.
    mine = {
        **opened,
        "display_name": "Mine",
        "provider_id": str(UUID(int=1)),
        "task": "background-removal",
        "priority": -(2**31),
        "pricing": "{}",
    }
    merged = reapply(opened, current, mine, {"display_name"})
    assert merged == {**current, "display_name": "Mine"}


def test_reapply_treats_reformatted_json_as_unchanged():
    opened = draft_from_row(ROW)
    current = draft_from_row({**ROW, "pricing": {**ROW["pricing"], "per_image": 0.01}})
    mine = {**opened, "pricing": '{"billing_unit": "per_image", "currency": "USD", "per_image": 0.002}'}
    assert reapply(opened, current, mine, {"pricing"})["pricing"] == current["pricing"]


def test_a_save_that_takes_a_default_names_the_one_it_replaced():
    class TakesDefault(Recorder):
        def update(self, model_id, changes, *, expected_version=None):
            return Saved({**ROW, **changes}, replaced={"id": UUID(int=7), "display_name": "<b>Veo</b>"})

    draft = {**draft_from_row(ROW), "display_name": "Acme 2"}
    result = save_draft(TakesDefault(), draft, ROW, {"display_name"})
    assert result.message == "Saved Acme 2. It replaced <b>Veo</b> as the default for image/generation."


# ─── Problems as the form names them ─────────────────────────────────────────────────────────────
def test_problems_use_the_forms_labels_and_keep_json_key_paths():
    from dashboard.services.editing import problem_text

    assert problem_text("provider_id", "is required") == "provider is required"
    assert problem_text("model_key", "is required") == "model key is required"
    assert problem_text("is_default", "must be true or false") == "default must be true or false"
    assert problem_text("pricing.currency", "must be …") == "pricing.currency must be …"
    assert problem_text("pricing", "is not valid JSON") == "pricing is not valid JSON"


def test_a_new_model_without_a_provider_says_provider_in_the_review():
    from dashboard.services.editing import problem_text

    draft = {**draft_from_row({**ROW, "provider_id": None}), "display_name": "Acme 2"}
    checked = review(draft, {})
    assert checked.clean is None
    assert [problem_text(k, v) for k, v in checked.problems.items()] == ["provider is required"]


def test_every_problem_of_a_json_field_is_named_at_once_each_at_its_key():
    draft = {
        **draft_from_row(ROW),
        "pricing": '{"per_image": -1, "currency": "usd", "billing_unit": "per_image"}',
        "capabilities": '{"supports_x": "yes", "max_resolution": "big", "max_steps": -2}',
    }
    checked = review(draft, ROW)
    assert set(checked.problems) == {
        "pricing.per_image",
        "pricing.currency",
        "capabilities.supports_x",
        "capabilities.max_resolution",
        "capabilities.max_steps",
    }


def test_hostile_json_keys_give_a_bounded_list_of_problems():
    from tests import hostile

    keys = {f"supports_{text[:30]}": "not a bool" for text in hostile.STORABLE}
    keys.update({f"supports_{n}": n for n in range(100)})
    draft = {**draft_from_row(ROW), "capabilities": json.dumps(keys)}
    checked = review(draft, ROW)
    capabilities = [path for path in checked.problems if path.startswith("capabilities")]
    assert 1 <= len(capabilities) <= 20
    assert checked.clean is None
