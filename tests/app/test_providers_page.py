"""The Providers page: the list with counts, editing, deactivating with its routing impact, adding."""

import pandas as pd
import pytest
import sqlalchemy as sa

from dashboard.services.providers import ProviderService
from dashboard.text import md_escape
from tests import hostile
from tests.app.conftest import texts, user_id
from tests.factories import make_model, make_provider, make_user

PAGE = "pages/providers.py"
HOSTILE = f"{hostile.LINK} {hostile.HTML} {hostile.WWW}"


def _provider(engine, name: str) -> dict:
    with engine.connect() as conn:
        row = conn.execute(sa.text("select * from api_providers where name = :n"), {"n": name}).mappings().one()
    return dict(row)


def _count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("select count(*) from api_providers")).scalar_one()


def _table(at) -> pd.DataFrame:
    return at.dataframe[0].value


def _open(at, provider_id):
    at.selectbox(key="provider_pick").select(str(provider_id)).run()
    assert not at.exception
    return at


def _key(provider_id, field: str) -> str:
    return f"provider_{field}_{provider_id}"


def test_an_admin_sees_every_provider_with_its_model_counts(demo_db, engine, signed_in):
    at = signed_in(page=PAGE)
    assert not at.exception
    assert at.title[0].value == "Providers"
    frame = _table(at).set_index("name")
    assert len(frame) == 6
    assert not frame.loc["legacy-diffusion", "is_active"]
    assert frame.drop(index="legacy-diffusion")["is_active"].all()
    with engine.connect() as conn:
        counts = dict(
            conn.execute(
                sa.text(
                    "select ap.name, count(am.id) filter (where am.is_active) from api_providers ap "
                    "left join api_models am on am.provider_id = ap.id group by ap.name"
                )
            ).all()
        )
    assert frame["active_models"].to_dict() == counts
    assert frame["models"].sum() == 32
    assert at.selectbox(key="provider_pick").value is None


def test_editing_a_display_name_saves_it(demo_db, engine, signed_in):
    replicate = _provider(engine, "replicate")
    at = _open(signed_in(page=PAGE), replicate["id"])
    assert "Edit Replicate" in texts(at)
    at.text_input(key=_key(replicate["id"], "display_name")).input("Replicate (EU)").run()
    at.button(key=_key(replicate["id"], "save")).click().run()
    assert not at.exception
    saved = _provider(engine, "replicate")
    assert (saved["display_name"], saved["base_url"], saved["is_active"]) == (
        "Replicate (EU)",
        replicate["base_url"],
        True,
    )
    assert [s.value for s in at.success] == [md_escape("Saved Replicate (EU).")]
    assert "Replicate (EU)" in set(_table(at)["display_name"])


def test_deactivating_shows_the_impact_and_waits_for_confirmation(demo_db, engine, signed_in):
    replicate = _provider(engine, "replicate")
    admin = ProviderService(engine, user_id=user_id(engine, "admin@example.com"))
    impacts = admin.routing_impact(replicate["id"])
    assert any(i.severity == "error" for i in impacts)  # replicate alone serves audio/music in the demo catalogue
    at = _open(signed_in(page=PAGE), replicate["id"])
    assert not at.warning and not at.error

    at.toggle(key=_key(replicate["id"], "is_active")).set_value(False).run()
    assert not at.exception
    said = texts(at)
    assert all(i.message in said for i in impacts)  # the shared impact review, worst first
    assert at.error[0].value == md_escape(next(i.message for i in impacts if i.severity == "error"))
    assert "Deactivate Replicate? Routing stops sending jobs to its models." in said
    assert not [b for b in at.button if b.key == _key(replicate["id"], "save")]  # the review's buttons instead
    assert _provider(engine, "replicate")["is_active"] is True

    at.button(key=_key(replicate["id"], "deactivate") + "_yes").click().run()
    assert not at.exception
    assert _provider(engine, "replicate")["is_active"] is False
    assert "Saved Replicate" in texts(at)
    assert not _table(at).set_index("name").loc["replicate", "is_active"]


def test_cancelling_a_deactivation_turns_active_back_on_and_saves_nothing(demo_db, engine, signed_in):
    replicate = _provider(engine, "replicate")
    at = _open(signed_in(page=PAGE), replicate["id"])
    at.toggle(key=_key(replicate["id"], "is_active")).set_value(False).run()
    at.button(key=_key(replicate["id"], "deactivate") + "_no").click().run()
    assert not at.exception
    assert at.toggle(key=_key(replicate["id"], "is_active")).value is True
    assert not at.error and not at.warning
    assert _provider(engine, "replicate")["is_active"] is True


def test_deactivating_names_where_each_slot_now_routes(empty_db, engine, signed_in):
    make_user(engine, "admin", email="solo@example.com")
    primary, backup = make_provider(engine, display_name="Primary"), make_provider(engine, display_name="Backup")
    make_model(engine, primary, display_name="Main", modality="text", task="chat", priority=1, is_default=True)
    make_model(engine, backup, display_name="Spare", modality="text", task="chat", priority=2)
    at = _open(signed_in("solo@example.com", page=PAGE), primary)
    at.toggle(key=_key(primary, "is_active")).set_value(False).run()
    said = texts(at)
    assert "The default for text/chat (Main) moves to an inactive provider, Primary" in said
    assert "text/chat now routes to Spare instead of Main" in said


def test_reactivating_needs_no_confirmation(demo_db, engine, signed_in):
    legacy = _provider(engine, "legacy-diffusion")
    at = _open(signed_in(page=PAGE), legacy["id"])
    at.toggle(key=_key(legacy["id"], "is_active")).set_value(True).run()
    assert not at.warning
    at.button(key=_key(legacy["id"], "save")).click().run()
    assert not at.exception
    assert _provider(engine, "legacy-diffusion")["is_active"] is True


def test_a_save_after_someone_elses_is_refused_and_keeps_what_was_typed(demo_db, engine, signed_in):
    openai = _provider(engine, "openai")
    at = _open(signed_in(page=PAGE), openai["id"])
    with engine.begin() as conn:  # another admin saves meanwhile
        conn.execute(
            sa.text("update api_providers set base_url = 'https://eu.openai.example/v1' where name = 'openai'")
        )
    at.text_input(key=_key(openai["id"], "display_name")).input("OpenAI (mine)").run()
    at.button(key=_key(openai["id"], "save")).click().run()
    assert not at.exception
    assert "changed by someone else" in texts(at)
    assert at.text_input(key=_key(openai["id"], "display_name")).value == "OpenAI (mine)"
    assert _provider(engine, "openai")["display_name"] == "OpenAI"

    at.button(key=_key(openai["id"], "reload")).click().run()
    assert not at.exception
    assert at.text_input(key=_key(openai["id"], "display_name")).value == "OpenAI"
    assert at.text_input(key=_key(openai["id"], "base_url")).value == "https://eu.openai.example/v1"


def test_an_invalid_edit_is_shown_and_kept(demo_db, engine, signed_in):
    fal = _provider(engine, "fal")
    at = _open(signed_in(page=PAGE), fal["id"])
    at.text_input(key=_key(fal["id"], "name")).input("Not A Slug").run()
    at.button(key=_key(fal["id"], "save")).click().run()
    assert not at.exception
    assert "name use lowercase letters" in at.error[0].value
    assert at.text_input(key=_key(fal["id"], "name")).value == "Not A Slug"
    assert _provider(engine, "fal")["name"] == "fal"


def _fill_new(at, **values):
    for field, value in values.items():
        if field == "auth_scheme":
            at.selectbox(key="new_provider_auth_scheme").select(value)
        else:
            at.text_input(key=f"new_provider_{field}").input(value)
    return at


def _submit_new(at):
    next(b for b in at.button if b.label == "Add provider").click().run()
    assert not at.exception
    return at


def test_adding_a_provider_with_a_bad_url_shows_the_error_and_keeps_the_form(demo_db, engine, signed_in):
    at = signed_in(page=PAGE)
    typed = {"name": "acme", "display_name": "Acme AI", "base_url": "javascript:alert(1)"}
    _submit_new(_fill_new(at, **typed, auth_scheme="key"))
    assert any(md_escape("base_url must be an http") in e.value for e in at.error)
    assert {f: at.text_input(key=f"new_provider_{f}").value for f in typed} == typed
    assert at.selectbox(key="new_provider_auth_scheme").value == "key"
    assert _count(engine) == 6

    _submit_new(_fill_new(at, base_url="https://api.acme.example/v1"))
    assert _provider(engine, "acme")["auth_scheme"] == "key"
    assert "Added Acme AI" in texts(at)
    assert at.text_input(key="new_provider_name").value == ""
    assert "acme" in set(_table(at)["name"])


def test_adding_shows_one_error_per_field(demo_db, engine, signed_in):
    at = _submit_new(_fill_new(signed_in(page=PAGE), name="Bad Name", display_name="", base_url="ftp://x"))
    errors = [e.value for e in at.error]
    assert len(errors) == 3
    assert [field for field in ("name", "display\\_name", "base\\_url") if any(field in e for e in errors)] == [
        "name",
        "display\\_name",
        "base\\_url",
    ]
    assert _count(engine) == 6


def test_adding_a_duplicate_name_is_refused(demo_db, engine, signed_in):
    at = _submit_new(_fill_new(signed_in(page=PAGE), name="replicate", display_name="Replicate again"))
    assert "already called replicate" in at.error[0].value
    assert _count(engine) == 6


def test_an_empty_database_invites_the_first_provider(empty_db, engine, signed_in):
    make_user(engine, "admin", email="solo@example.com")
    at = signed_in("solo@example.com", page=PAGE)
    assert not at.exception
    assert "No providers yet" in texts(at)
    assert not at.dataframe
    assert at.expander[0].proto.expanded
    _submit_new(_fill_new(at, name="first", display_name="First"))
    assert _provider(engine, "first")["display_name"] == "First"
    assert len(_table(at)) == 1


@pytest.mark.parametrize("text", [HOSTILE, "**bold** _it_ # heading `code` $x$ :red[red]"])
def test_markdown_and_html_in_a_display_name_are_shown_literally(empty_db, engine, signed_in, text):
    make_user(engine, "admin", email="solo@example.com")
    provider = make_provider(engine, name="hostile", display_name=text)
    at = _open(signed_in("solo@example.com", page=PAGE), provider)
    assert _table(at)["display_name"].tolist() == [text]  # dataframe cells are plain text
    assert at.subheader[0].value == f"Edit {md_escape(text)}"
    at.toggle(key=_key(provider, "is_active")).set_value(False).run()
    assert md_escape(text) in at.warning[0].value  # the review's question names the provider
    at.button(key=_key(provider, "deactivate") + "_yes").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == [md_escape(f"Saved {text}.")]
    assert at.subheader[0].value == f"Edit {md_escape(text)}"


def test_a_plain_user_has_no_providers_page(demo_db, signed_in):
    at = signed_in("viewer@example.com")
    assert not at.exception
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(f"../../{PAGE}")


def test_the_review_shows_the_traffic_that_would_move(demo_db, engine, signed_in):
    replicate = _provider(engine, "replicate")
    with engine.begin() as conn:  # 14 jobs of SDXL 1.0 (on replicate) in the last 7 days
        conn.execute(
            sa.text(
                "insert into jobs (api_model_id, status, created_at) select id, 'completed', "
                "date_trunc('hour', now()) - interval '2 days' from api_models, generate_series(1, 14) "
                "where display_name = 'SDXL 1.0'"
            )
        )
    at = _open(signed_in(page=PAGE), replicate["id"])
    at.toggle(key=_key(replicate["id"], "is_active")).set_value(False).run()
    assert not at.exception
    moves = at.dataframe[-1].value
    row = moves[moves["From"] == "SDXL 1.0"].iloc[0]
    assert row["Slot"] == "image/generation" and row["To"] != "SDXL 1.0" and row["Jobs/day"] >= 2
