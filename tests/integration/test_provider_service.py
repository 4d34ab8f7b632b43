"""ProviderService: listing with counts, creating, editing, routing impact and hostile input, under RLS."""

import pytest
import sqlalchemy as sa

from dashboard.services.errors import EditConflict, InvalidModel, NotAllowed, ProviderNotFound
from dashboard.services.providers import ProviderService
from dashboard.services.routing_rules import SEVERITY_ORDER, Impact
from tests import hostile
from tests.factories import make_model, make_provider, make_user


@pytest.fixture
def admin(engine):
    return ProviderService(engine, user_id=make_user(engine, "admin"))


@pytest.fixture
def viewer(engine):
    return ProviderService(engine, user_id=make_user(engine, "user"))


def _fields(**overrides):
    return {
        "name": "acme",
        "display_name": "Acme AI",
        "base_url": "https://api.acme.example/v1",
        "auth_scheme": "bearer",
        **overrides,
    }


def _provider_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("select count(*) from api_providers")).scalar_one()


def test_list_counts_models_and_active_models_per_provider(engine, admin):
    busy = make_provider(engine, display_name="Busy")
    make_provider(engine, display_name="Idle")
    make_model(engine, busy)
    make_model(engine, busy)
    make_model(engine, busy, is_active=False)
    rows = {row["display_name"]: row for row in admin.list_providers()}
    assert (rows["Busy"]["models"], rows["Busy"]["active_models"]) == (3, 2)
    assert (rows["Idle"]["models"], rows["Idle"]["active_models"]) == (0, 0)
    assert all(row["row_version"] for row in rows.values())


def test_list_is_sorted_by_display_name_ignoring_case(engine, admin):
    for name in ("Zeta", "alpha", "Mid"):
        make_provider(engine, display_name=name)
    assert [row["display_name"] for row in admin.list_providers()] == ["alpha", "Mid", "Zeta"]  # case-insensitive


def test_a_plain_user_can_list_providers(engine, viewer):
    make_provider(engine, display_name="Visible")
    assert [row["display_name"] for row in viewer.list_providers()] == ["Visible"]


def test_create_stores_the_fields_and_is_active_by_default(admin):
    created = admin.create_provider(_fields(base_url="", auth_scheme=""))
    assert (created["name"], created["display_name"], created["is_active"]) == ("acme", "Acme AI", True)
    assert created["base_url"] is None and created["auth_scheme"] is None
    assert admin.get_provider(created["id"])["row_version"] == created["row_version"]


def test_create_trims_surrounding_spaces(admin):
    created = admin.create_provider(_fields(name="  acme  ", display_name="  Acme AI "))
    assert (created["name"], created["display_name"]) == ("acme", "Acme AI")


def test_a_duplicate_name_is_refused_as_a_field_error(engine, admin):
    admin.create_provider(_fields())
    with pytest.raises(InvalidModel) as caught:
        admin.create_provider(_fields(display_name="Another Acme"))
    assert "already called acme" in caught.value.problems["name"]
    assert _provider_count(engine) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Not A Slug"),
        ("name", "-starts-with-a-dash"),
        ("name", "a" * 64),
        ("display_name", ""),
        ("display_name", "   "),
        ("base_url", "javascript:alert(1)"),
        ("base_url", "ftp://files.example.com"),
        ("base_url", "https://has space.example"),
        ("auth_scheme", "oauth3"),
    ],
)
def test_each_invalid_field_is_named(engine, admin, field, value):
    with pytest.raises(InvalidModel) as caught:
        admin.create_provider(_fields(**{field: value}))
    assert set(caught.value.problems) == {field}
    assert _provider_count(engine) == 0


def test_every_problem_is_named_at_once(admin):
    with pytest.raises(InvalidModel) as caught:
        admin.create_provider(
            {
                "name": "Bad Name",
                "display_name": "",
                "base_url": "javascript:alert(1)",
                "auth_scheme": "oauth3",
                "is_active": "yes",
                "owner": "me",
            }
        )
    assert set(caught.value.problems) == {"name", "display_name", "base_url", "auth_scheme", "is_active", "owner"}


def test_name_and_display_name_are_required(admin):
    with pytest.raises(InvalidModel) as caught:
        admin.create_provider({"base_url": "https://api.example.com"})
    assert set(caught.value.problems) == {"name", "display_name"}


def test_update_changes_only_what_is_given(admin):
    created = admin.create_provider(_fields())
    updated = admin.update_provider(created["id"], {"display_name": "Acme Cloud"})
    assert (updated["display_name"], updated["name"], updated["base_url"]) == (
        "Acme Cloud",
        "acme",
        "https://api.acme.example/v1",
    )
    assert updated["row_version"] != created["row_version"]


def test_update_with_the_current_version_saves(admin):
    created = admin.create_provider(_fields())
    admin.update_provider(created["id"], {"is_active": False}, expected_version=created["row_version"])
    assert admin.get_provider(created["id"])["is_active"] is False


def test_update_with_a_stale_version_is_refused_and_writes_nothing(admin):
    created = admin.create_provider(_fields())
    admin.update_provider(created["id"], {"display_name": "First"}, expected_version=created["row_version"])
    with pytest.raises(EditConflict, match="changed by someone else"):
        admin.update_provider(created["id"], {"display_name": "Second"}, expected_version=created["row_version"])
    assert admin.get_provider(created["id"])["display_name"] == "First"


def test_renaming_onto_another_providers_name_is_refused(admin):
    admin.create_provider(_fields())
    other = admin.create_provider(_fields(name="other", display_name="Other"))
    with pytest.raises(InvalidModel, match="already called acme"):
        admin.update_provider(other["id"], {"name": "acme"})
    assert admin.update_provider(other["id"], {"name": "other"})["name"] == "other"  # its own name is fine


def test_update_of_an_unknown_provider_says_so(admin):
    with pytest.raises(ProviderNotFound):
        admin.update_provider("00000000-0000-0000-0000-000000000000", {"display_name": "Ghost"})
    with pytest.raises(ProviderNotFound):
        admin.get_provider("00000000-0000-0000-0000-000000000000")


def test_a_non_uuid_id_is_a_clear_error_not_a_database_error(admin):
    with pytest.raises(InvalidModel):
        admin.update_provider("1; drop table api_providers", {"display_name": "x"})


def test_a_plain_user_cannot_create(engine, viewer):
    with pytest.raises(NotAllowed):
        viewer.create_provider(_fields())
    assert _provider_count(engine) == 0


def test_a_plain_user_cannot_update_and_is_told_so(engine, viewer):
    provider = make_provider(engine, display_name="Stays")
    with pytest.raises(NotAllowed):
        viewer.update_provider(provider, {"display_name": "Hijacked", "is_active": False})
    row = viewer.get_provider(provider)
    assert (row["display_name"], row["is_active"]) == ("Stays", True)


def test_an_anonymous_visitor_cannot_create(engine):
    with pytest.raises(NotAllowed):
        ProviderService(engine, user_id=None).create_provider(_fields())


@pytest.fixture
def catalogue(engine):
    """Two providers: 'solo' alone serves image/upscale; both serve image/generation."""
    solo, shared = make_provider(engine, name="solo"), make_provider(engine, name="shared")
    make_model(engine, solo, modality="image", task="generation")
    make_model(engine, solo, modality="image", task="upscale")
    make_model(engine, solo, modality="image", task="upscale")
    make_model(engine, solo, modality="audio", task="tts", is_active=False)
    make_model(engine, shared, modality="image", task="generation")
    make_model(engine, shared, modality="audio", task="tts")
    return {"solo": solo, "shared": shared}


def _errors(impacts) -> list[tuple[str, str]]:
    return [(i.slot, i.message) for i in impacts if i.severity == "error"]


def test_routing_impact_lists_the_slots_only_this_provider_serves(admin, catalogue):
    impacts = admin.routing_impact(catalogue["solo"])
    assert _errors(impacts) == [
        ("image/upscale", "image/upscale is left with no model on an active provider: its jobs cannot be routed")
    ]
    assert impacts[-1] == Impact("info", "", "3 active model(s) leave routing")
    assert [i.severity for i in impacts] == sorted((i.severity for i in impacts), key=SEVERITY_ORDER.get)


def test_routing_impact_of_a_provider_whose_slots_are_all_shared(admin, catalogue):
    impacts = admin.routing_impact(catalogue["shared"])
    assert [slot for slot, _ in _errors(impacts)] == ["audio/tts"]  # solo's tts model is inactive
    assert impacts[-1] == Impact("info", "", "2 active model(s) leave routing")


def test_routing_impact_ignores_models_of_inactive_providers(engine, admin, catalogue):
    dormant = make_provider(engine, name="dormant", is_active=False)
    make_model(engine, dormant, modality="image", task="upscale")
    assert [slot for slot, _ in _errors(admin.routing_impact(catalogue["solo"]))] == ["image/upscale"]


def test_routing_impact_of_a_provider_without_models(engine, admin, catalogue):
    assert admin.routing_impact(make_provider(engine)) == []


@pytest.mark.parametrize("display_name", ["Primary Cloud", hostile.HTML])
def test_routing_impact_names_the_default_left_on_an_inactive_provider_and_the_fallback(engine, admin, display_name):
    primary, backup = make_provider(engine, display_name=display_name), make_provider(engine)
    make_model(engine, primary, display_name="Main", modality="text", task="chat", priority=1, is_default=True)
    make_model(engine, backup, display_name="Spare", modality="text", task="chat", priority=2)
    make_model(engine, backup, display_name="Other", modality="text", task="summarization")
    assert [(i.severity, i.message) for i in admin.routing_impact(primary)] == [
        ("warning", f"The default for text/chat (Main) moves to an inactive provider, {display_name}"),
        ("info", "text/chat now routes to Spare instead of Main"),
        ("info", "1 active model(s) leave routing"),
    ]
    # Spare was only a fallback for text/chat (nothing moves there); Other served text/summarization alone.
    assert [(i.severity, i.slot) for i in admin.routing_impact(backup)] == [
        ("error", "text/summarization"),
        ("info", ""),
    ]
    assert [i.message for i in admin.routing_impact(primary, active=True)] == []  # it is active already


HOSTILE_TEXT = [
    "'; drop table api_providers; --",
    hostile.SCRIPT,
    f"{hostile.LINK} {hostile.HTML}",
    hostile.HYPERLINK,
    "Ṩ̷̛ẞ 🤖 مرحبا",
]


@pytest.mark.parametrize("text", HOSTILE_TEXT)
def test_hostile_display_names_are_stored_literally(engine, admin, text):
    created = admin.create_provider(_fields(display_name=text))
    assert admin.get_provider(created["id"])["display_name"] == text
    assert [row["display_name"] for row in admin.list_providers()] == [text]
    assert _provider_count(engine) == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"display_name": hostile.NUL},
        {"display_name": "line\nbreak"},
        {"display_name": hostile.RLO},
        {"display_name": hostile.ZERO_WIDTH},
        {"base_url": "https://api.example.com/\u202e"},
        {"display_name": "x" * 10_000},
        {"name": "x" * 10_000},
        {"name": "acme'; drop table api_providers; --"},
        {"name": "acme\x00"},
        {"base_url": "https://api.example.com/" + "x" * 10_000},
        {"base_url": "https://api.example.com/\x00"},
        {"base_url": "https://api.example.com/\x01x"},
        {"base_url": "<script>alert(1)</script>"},
        {"auth_scheme": "bearer\x00"},
        {"auth_scheme": "bearer; drop table api_providers"},
    ],
)
def test_hostile_values_are_refused_and_change_nothing(engine, admin, fields):
    with pytest.raises(InvalidModel):
        admin.create_provider(_fields(**fields))
    assert _provider_count(engine) == 0


@pytest.mark.parametrize(
    "fields", [{"display_name": "nul\x00byte"}, {"name": "x" * 10_000}, {"base_url": "javascript:alert(1)"}]
)
def test_hostile_updates_are_refused_and_change_nothing(admin, fields):
    created = admin.create_provider(_fields())
    with pytest.raises(InvalidModel):
        admin.update_provider(created["id"], fields)
    assert admin.get_provider(created["id"])["row_version"] == created["row_version"]
