"""What an audit entry says changed, from the two row images (pure: no database)."""

from dashboard.services.audit import row_changes


def test_row_changes_of_hostile_and_nested_values():
    old = {"display_name": "<b>x</b>", "pricing": {"a": {"b": 1}}, "gone": 1}
    new = {"display_name": "[x](javascript:alert(1))", "pricing": {"a": {"b": 1.0}}}
    paths = [c.path for c in row_changes(old, new)]
    assert paths == ["display_name", "pricing.a.b", "gone"]
