"""What an edit changes, and reapplying an edit on top of someone else's."""

from dashboard.services.diff import field_changes, reapply

SEED = {
    "display_name": "SDXL 1.0",
    "priority": 1,
    "is_active": True,
    "version": None,
    "pricing": {"per_image": 0.0023, "currency": "USD", "billing_unit": "per_image"},
    "capabilities": {"limits": {"max_resolution": "1024x1024"}},
}


def paths(changes):
    return {(c.path, c.kind) for c in changes}


def test_no_change_no_diff():
    assert field_changes(SEED, dict(SEED)) == []


def test_plain_fields_are_compared():
    assert paths(field_changes(SEED, {**SEED, "priority": 2})) == {("priority", "changed")}


def test_json_fields_are_compared_key_by_key_and_nested():
    after = {
        **SEED,
        "pricing": {"per_image": 0.003, "currency": "USD", "billing_unit": "per_image", "note": "x"},
        "capabilities": {"limits": {"max_resolution": "2048x2048"}},
    }
    assert paths(field_changes(SEED, after)) == {
        ("pricing.per_image", "changed"),
        ("pricing.note", "added"),
        ("capabilities.limits.max_resolution", "changed"),
    }


def test_a_removed_key_is_shown_as_removed():
    after = {**SEED, "pricing": {"per_image": 0.0023, "billing_unit": "per_image"}}
    (change,) = field_changes(SEED, after)
    assert (change.path, change.kind, change.shown(change.after)) == ("pricing.currency", "removed", "—")


def test_a_type_change_counts_even_when_equal_in_python():
    before = {**SEED, "pricing": {**SEED["pricing"], "per_image": 1}}
    after = {**SEED, "pricing": {**SEED["pricing"], "per_image": True}}
    assert ("pricing.per_image", "changed") in paths(field_changes(before, after))


def test_fields_not_in_the_edit_are_ignored():
    assert field_changes(SEED, {"priority": 1}) == []


def test_reapply_keeps_my_edits_and_their_other_changes():
    opened = {"display_name": "SDXL 1.0", "priority": 1, "version": "1.0"}
    current = {"display_name": "SDXL 1.0 (renamed)", "priority": 1, "version": "1.1"}
    mine = {"display_name": "SDXL 1.0", "priority": 5, "version": "1.0"}
    assert reapply(opened, current, mine) == {"display_name": "SDXL 1.0 (renamed)", "priority": 5, "version": "1.1"}


def test_reapply_keeps_my_value_when_we_both_changed_a_field():
    assert reapply({"priority": 1}, {"priority": 2}, {"priority": 3}) == {"priority": 3}
