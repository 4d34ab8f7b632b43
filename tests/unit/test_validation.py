"""Validation of model fields: each rule, and hostile input, with no database."""

import json
from uuid import uuid4

import pytest

from dashboard.services.errors import InvalidModel
from dashboard.services.validation import MAX_JSON_BYTES, validate_model_fields
from dashboard.text import visible
from tests import hostile

PROVIDER = uuid4()


def valid(**overrides):
    return {
        "provider_id": PROVIDER,
        "model_key": "owner/model",
        "display_name": "Model",
        "modality": "image",
        "task": "generation",
        **overrides,
    }


def problems(**fields):
    with pytest.raises(InvalidModel) as caught:
        validate_model_fields(valid(**fields))
    return caught.value.problems


def test_a_minimal_model_is_valid_and_trimmed():
    clean = validate_model_fields(valid(display_name="  Model  ", version="  "))
    assert clean["display_name"] == "Model"
    assert clean["version"] is None


def test_missing_required_fields_are_each_named():
    with pytest.raises(InvalidModel) as caught:
        validate_model_fields({})
    assert set(caught.value.problems) == {"provider_id", "model_key", "display_name", "modality", "task"}


def test_partial_checks_only_what_is_given():
    assert validate_model_fields({"priority": 3}, partial=True) == {"priority": 3}


@pytest.mark.parametrize("modality", ["Image", "3d", "", "text; drop table api_models"])
def test_modality_is_one_of_four(modality):
    assert "modality" in problems(modality=modality)


@pytest.mark.parametrize("task", ["Generation", "image to video", "-lead", "trail_", "a--b", "x" * 65])
def test_task_is_a_lowercase_slug(task):
    assert "task" in problems(task=task)


@pytest.mark.parametrize("task", ["generation", "image-to-video", "text_to_speech", "tts2"])
def test_good_tasks_pass(task):
    assert validate_model_fields(valid(task=task))["task"] == task


@pytest.mark.parametrize("priority", [1.5, "high", True, None, 2**31, -(2**31) - 1])
def test_priority_is_a_whole_number_in_range(priority):
    assert "priority" in problems(priority=priority)


def test_priority_accepts_digits_from_a_form():
    assert validate_model_fields(valid(priority=" -3 "))["priority"] == -3


@pytest.mark.parametrize("flag", ["yes", 1, None])
def test_flags_are_booleans(flag):
    assert "is_active" in problems(is_active=flag)


def test_unknown_fields_are_refused():
    assert "id" in problems(id=uuid4())
    assert "created_by" in problems(created_by=uuid4())


@pytest.mark.parametrize("value", ["", "nul\x00", "bell\x07", "x" * 201])
def test_display_name_rejects_blank_control_and_long_text(value):
    assert "display_name" in problems(display_name=value)


def test_provider_id_must_be_an_id():
    assert "provider_id" in problems(provider_id="replicate")


# ─── JSON fields ────────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize("value", ["[]", "1", '"text"', "null", [1], 3])
@pytest.mark.parametrize("field", ["input_defaults", "capabilities", "pricing"])
def test_json_fields_must_be_objects(field, value):
    assert "must be a JSON object" in problems(**{field: value})[field]


def test_broken_json_points_at_line_and_column():
    message = problems(capabilities='{\n  "a": 1,\n  "b": }')["capabilities"]
    assert "line 3" in message and "column" in message


def test_json_text_is_parsed():
    assert validate_model_fields(valid(capabilities='{"supports_inpainting": true}'))["capabilities"] == {
        "supports_inpainting": True
    }


def test_empty_json_text_means_an_empty_object():
    assert validate_model_fields(valid(pricing="  "))["pricing"] == {}


@pytest.mark.parametrize(
    ("pricing", "where"),
    [
        ({"per_image": 0.01, "currency": "USD"}, "pricing.billing_unit"),
        ({"per_image": 0.01, "currency": "USD", "billing_unit": "per_banana"}, "pricing.billing_unit"),
        ({"currency": "USD", "billing_unit": "per_image"}, "pricing.per_image"),
        ({"per_image": "0.01", "currency": "USD", "billing_unit": "per_image"}, "pricing.per_image"),
        ({"per_image": -0.01, "currency": "USD", "billing_unit": "per_image"}, "pricing.per_image"),
        ({"per_image": True, "currency": "USD", "billing_unit": "per_image"}, "pricing.per_image"),
        ({"per_image": 0.01, "currency": "usd", "billing_unit": "per_image"}, "pricing.currency"),
        ({"per_image": 0.01, "currency": "DOLLARS", "billing_unit": "per_image"}, "pricing.currency"),
        ({"per_image": 0.01, "per_second": -1, "currency": "USD", "billing_unit": "per_image"}, "pricing.per_second"),
    ],
)
def test_pricing_rules_point_at_the_key(pricing, where):
    assert where in problems(pricing=pricing)


def test_the_seeds_pricing_is_valid():
    pricing = {"per_image": 0.0023, "currency": "USD", "billing_unit": "per_image"}
    assert validate_model_fields(valid(pricing=pricing))["pricing"] == pricing


@pytest.mark.parametrize(
    ("capabilities", "where"),
    [
        ({"supports_inpainting": "yes"}, "capabilities.supports_inpainting"),
        ({"max_resolution": "big"}, "capabilities.max_resolution"),
        ({"max_resolution": "0x1024"}, "capabilities.max_resolution"),
        ({"max_tokens": -5}, "capabilities.max_tokens"),
    ],
)
def test_capabilities_are_typed(capabilities, where):
    assert where in problems(capabilities=capabilities)


@pytest.mark.parametrize(
    ("modality", "defaults", "where"),
    [
        ("image", {"width": "1024"}, "input_defaults.width"),
        ("image", {"width": 1024.5}, "input_defaults.width"),
        ("image", {"width": 0}, "input_defaults.width"),
        ("image", {"guidance_scale": -1}, "input_defaults.guidance_scale"),
        ("text", {"width": 512}, "input_defaults.width"),
        ("text", {"temperature": 3}, "input_defaults.temperature"),
        ("audio", {"max_tokens": 10}, "input_defaults.max_tokens"),
        ("image", {"prompt": 5}, "input_defaults.prompt"),
    ],
)
def test_input_defaults_are_typed_per_modality(modality, defaults, where):
    assert where in problems(modality=modality, input_defaults=defaults)


def test_unknown_input_keys_are_allowed_for_flexibility():
    assert validate_model_fields(valid(input_defaults={"scheduler": "K_EULER", "lora": {"scale": 0.8}}))


def test_the_seeds_input_defaults_are_valid():
    defaults = {
        "prompt": "",
        "negative_prompt": "",
        "width": 1024,
        "height": 1024,
        "num_inference_steps": 50,
        "guidance_scale": 7.5,
    }
    assert validate_model_fields(valid(input_defaults=defaults))["input_defaults"] == defaults


# ─── Hostile JSON ───────────────────────────────────────────────────────────────────────────────
def test_deeply_nested_json_is_refused():
    deep = "[" * 5000 + "]" * 5000
    assert "nested" in problems(capabilities='{"a": ' + deep + "}")["capabilities"]


def test_nesting_just_over_the_limit_is_refused_as_a_dict_too():
    value: dict = {}
    cursor = value
    for _ in range(9):
        cursor["x"] = {}
        cursor = cursor["x"]
    assert any("nested" in p for p in problems(capabilities=value).values())


def test_huge_json_is_refused():
    big = json.dumps({"k": "x" * (MAX_JSON_BYTES + 1)})
    assert "larger than" in problems(capabilities=big)["capabilities"]


@pytest.mark.parametrize("text", ['{"a": "\\u0000"}', '{"a\\u0000": 1}', '{"a": "\\ud800"}'])
def test_json_that_postgres_cannot_store_is_refused(text):
    assert problems(capabilities=text)


@pytest.mark.parametrize("text", ['{"max_tokens": NaN}', '{"a": Infinity}'])
def test_non_finite_numbers_are_refused(text):
    assert problems(capabilities=text)


def test_sql_and_html_in_json_values_are_just_text():
    value = {"note": "'; drop table api_models; -- <script>alert(1)</script>"}
    assert validate_model_fields(valid(capabilities=value))["capabilities"] == value


def test_a_json_field_that_is_not_an_object_is_named():
    with pytest.raises(InvalidModel) as caught:
        validate_model_fields({"pricing": "[1, 2]"}, partial=True)
    assert caught.value.problems == {"pricing": "must be a JSON object ({...}), not an array"}


def test_an_absurd_price_is_refused_as_a_typo():
    pricing = {"per_image": 1e35, "currency": "USD", "billing_unit": "per_image"}
    assert "typo" in problems(pricing=pricing)["pricing.per_image"]


# ─── Control and invisible characters (issue 12, item 4) ────────────────────────────────────────────
TEXT_FIELDS = ("display_name", "model_key", "version", "model_family", "task", "endpoint_path", "output_format")


@pytest.mark.parametrize("field", TEXT_FIELDS)
@pytest.mark.parametrize("char", [*hostile.BIDI, *hostile.INVISIBLE, "\x1b", "\r", "\n", "\t", "\x85", "\x7f"])
def test_text_fields_refuse_control_bidi_and_zero_width_characters_by_name(field, char):
    found = problems(**{field: f"ab{char}cd"})
    assert list(found) == [field]
    assert found[field].startswith("contains control characters or invisible characters")
    assert visible(char) in found[field]  # the character is named as an escape a person can read


@pytest.mark.parametrize("text", [hostile.RLO, hostile.ZERO_WIDTH, hostile.ESCAPE, hostile.CR_FORMULA])
def test_the_corpus_names_are_refused(text):
    assert "display_name" in problems(display_name=text)


@pytest.mark.parametrize("text", ["Ṩ̷̛ẞ 🤖 مرحبا", "日本語モデル", "Café — 1.0 “beta”", hostile.LINK, hostile.FORMULA])
def test_visible_unicode_and_punctuation_are_fine(text):
    assert validate_model_fields(valid(display_name=text))["display_name"] == text


@pytest.mark.parametrize("char", [*hostile.BIDI, *hostile.INVISIBLE, "\x1b", "\n"])
def test_json_keys_refuse_every_hidden_character(char):
    [(where, problem)] = problems(input_defaults={f"seed{char}": 1}).items()
    assert where.startswith("input_defaults key 'seed") and problem.startswith("contains control characters")


@pytest.mark.parametrize("char", [*hostile.BIDI, *hostile.INVISIBLE, "\x1b", "\x85"])
def test_json_strings_refuse_hidden_characters_but_keep_line_breaks_and_tabs(char):
    assert "input_defaults.prompt" in problems(input_defaults={"prompt": f"a{char}b"})
    assert validate_model_fields(valid(input_defaults={"prompt": "line one\n\tline two\r\n"}))


@pytest.mark.parametrize("char", ["\u202e", "\u200b", "\x1b"])
def test_provider_names_refuse_them_too(char):
    from dashboard.services.providers import validate_provider_fields

    with pytest.raises(InvalidModel) as caught:
        validate_provider_fields(
            {"name": "acme", "display_name": f"Acme{char}", "base_url": f"https://a.example/{char}"}
        )
    assert set(caught.value.problems) == {"display_name", "base_url"}
    assert visible(char) in caught.value.problems["display_name"]


# ─── Every problem of a JSON field at once ───────────────────────────────────────────────────────
def test_every_pricing_problem_is_named_at_its_key():
    found = problems(pricing={"billing_unit": "per_image", "per_image": "cheap", "per_second": -1, "currency": "usd"})
    assert set(found) == {"pricing.per_image", "pricing.per_second", "pricing.currency"}
    assert found["pricing.per_image"].startswith("must be the price per unit as a number")


def test_every_input_default_problem_is_named_at_its_key():
    found = problems(input_defaults={"width": 0, "height": "tall", "fps": 24, "prompt": 1})
    assert set(found) == {
        "input_defaults.width",
        "input_defaults.height",
        "input_defaults.fps",
        "input_defaults.prompt",
    }
    assert found["input_defaults.fps"] == "applies to video models, not image"


def test_hidden_characters_in_several_keys_are_each_named():
    found = problems(capabilities={f"a{char}": True for char in hostile.BIDI[:3]})
    assert len(found) == 3 and all(path.startswith("capabilities key ") for path in found)


def test_a_flood_of_problems_is_cut_to_a_readable_list():
    found = problems(capabilities={f"max_{n}": -1 for n in range(1000)}, pricing=hostile.JSON_OBJECT)
    assert len([p for p in found if p.startswith("capabilities")]) == 20
    assert any(p.startswith("pricing") for p in found)  # another field's problems are still named
