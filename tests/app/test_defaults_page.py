"""The Defaults page: each slot's default and gaps for everyone; changing a default, confirmed, for admins."""

import pandas as pd
import sqlalchemy as sa

from dashboard.text import md_escape
from tests import hostile
from tests.app.conftest import texts
from tests.factories import level_with_the_pick, make_model, make_provider, make_user

PAGE = "pages/defaults.py"
HOSTILE = f"{hostile.LINK} {hostile.HTML} {hostile.EMAIL}"


def _defaults_table(at) -> pd.DataFrame:
    return at.dataframe[0].value


def _grid(at) -> pd.DataFrame:
    return at.dataframe[1].value.set_index("task")


_DEFAULT_OF = sa.text("select display_name from api_models where is_default and modality = :m and task = :t")


def _default_of(engine, modality: str, task: str) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(_DEFAULT_OF, {"m": modality, "t": task}).scalars())


def _flashed(at) -> list[str]:
    """The notices app.py showed at the top of the run after a change."""
    return [s.value for s in at.success]


def _button(at, label: str):
    [button] = [b for b in at.button if b.label == label]
    return button


def _pick(at, slot: str, model: str):
    at.selectbox(key="defaults_slot").select(slot).run()
    picker = at.selectbox(key=f"defaults_model_{slot}")
    [index] = [i for i, label in enumerate(picker.options) if label.startswith(f"{model} ·")]  # shown labels
    return picker.select_index(index).run()


def test_an_admin_sees_the_default_models_table(demo_db, signed_in):
    at = signed_in(page=PAGE)
    assert not at.exception
    table = _defaults_table(at)
    assert list(table.columns) == ["modality", "task", "display_name", "provider_name", "priority", "updated_at"]
    assert len(table) == 11
    sdxl = table[(table["modality"] == "image") & (table["task"] == "generation")].iloc[0]
    assert (sdxl["display_name"], sdxl["provider_name"]) == ("SDXL 1.0", "Replicate")  # as every other page names it


def test_the_grid_marks_every_gap(demo_db, signed_in):
    grid = _grid(signed_in(page=PAGE))
    assert list(grid.columns) == ["text", "image", "video", "audio"]
    assert grid.loc["background-removal", "image"] == "⚠ no default · 2"
    assert grid.loc["summarization", "text"] == "⚠ no active model"
    # Stable Diffusion 1.5 is active but its provider, legacy-diffusion, is not: routing skips it
    assert grid.loc["generation", "image"] == "SDXL 1.0 · 4"
    assert grid.loc["generation", "video"] == "Gen-3 Alpha Turbo · 3"
    assert grid.loc["tts", "image"] == ""  # no such slot


def test_a_plain_user_reads_the_defaults_but_cannot_change_them(demo_db, signed_in):
    at = signed_in("viewer@example.com", page=PAGE)
    assert not at.exception
    assert len(_defaults_table(at)) == 11
    assert "summarization" not in _grid(at).index  # its only model is inactive, which a plain user cannot see
    assert "Only admins can change defaults" in texts(at)
    assert not [b for b in at.button if b.label in ("Make default", "Confirm")]
    assert not [s for s in at.selectbox if s.key == "defaults_slot"]


def test_making_a_default_needs_a_confirmation(demo_db, engine, signed_in):
    at = _pick(signed_in(page=PAGE), "image/generation", "Flux Schnell")
    assert not [b for b in at.button if b.label == "Confirm"]
    _button(at, "Make default").click().run()
    assert not at.exception
    # The shared impact review: what the change does to routing, then the question with Confirm and Cancel.
    assert [w.value for w in at.warning] == [
        md_escape(
            "The default for image/generation (Flux Schnell) is passed over: SDXL 1.0 comes first (a lower "
            "priority number, 1 < 3)"
        ),
        md_escape(
            "Flux Schnell becomes the default for image/generation, replacing SDXL 1.0. Confirm to apply. "
            "1 warning above."
        ),
    ]
    assert _default_of(engine, "image", "generation") == ["SDXL 1.0"]  # nothing written yet
    _button(at, "Cancel").click().run()
    assert not at.warning and not [b for b in at.button if b.label == "Confirm"]
    assert _default_of(engine, "image", "generation") == ["SDXL 1.0"]


def test_confirming_replaces_the_previous_default(demo_db, engine, signed_in):
    at = _pick(signed_in(page=PAGE), "image/generation", "Flux Schnell")
    _button(at, "Make default").click().run()
    _button(at, "Confirm").click().run()
    assert not at.exception
    assert _default_of(engine, "image", "generation") == ["Flux Schnell"]
    assert _flashed(at) == [md_escape("Flux Schnell is now the default for image/generation; it replaced SDXL 1.0.")]
    # Flux Schnell has priority 2 and SDXL 1.0 priority 1: routing still picks SDXL, and the grid says so.
    assert _grid(at).loc["generation", "image"].startswith("⚠ passed over: Flux Schnell · ")
    table = _defaults_table(at)
    assert "SDXL 1.0" not in set(table["display_name"]) and "Flux Schnell" in set(table["display_name"])


def test_a_slot_without_a_default_gets_one(demo_db, engine, signed_in):
    at = _pick(signed_in(page=PAGE), "image/background-removal", "BiRefNet")
    _button(at, "Make default").click().run()
    assert "which has no default now" in texts(at)
    _button(at, "Confirm").click().run()
    assert not at.exception
    assert _default_of(engine, "image", "background-removal") == ["BiRefNet"]
    assert _flashed(at) == [md_escape("BiRefNet is now the default for image/background-removal.")]


def test_an_admin_whose_role_was_revoked_changes_nothing(demo_db, engine, signed_in):
    at = _pick(signed_in(page=PAGE), "image/generation", "Flux Schnell")
    _button(at, "Make default").click().run()
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "delete from user_roles where user_id = (select id from auth.users where email = 'admin@example.com')"
            )
        )
    _button(at, "Confirm").click().run()
    assert not at.exception
    assert _default_of(engine, "image", "generation") == ["SDXL 1.0"]
    # The next run finds the role gone: the session ends before the click does anything (RLS would refuse too).
    assert "Your admin role was removed" in texts(at)


def test_a_model_on_an_inactive_provider_is_labelled_so(demo_db, signed_in):
    at = signed_in(page=PAGE)
    at.selectbox(key="defaults_slot").select("image/generation").run()
    picker = at.selectbox(key="defaults_model_image/generation")
    labels = picker.options
    skipped = "(provider Legacy Diffusion Cloud inactive: routing skips it)"
    assert any(label.startswith("Stable Diffusion 1.5 ·") and skipped in label for label in labels)
    assert not any(label.startswith("SDXL 1.0 ·") for label in labels)  # already the default


def test_the_overviews_link_preselects_the_slot(demo_db, signed_in):
    at = signed_in(page=PAGE, slot="image/background-removal")
    assert at.selectbox(key="defaults_slot").value == "image/background-removal"
    at = signed_in(page=PAGE, slot="<script>alert(1)</script>")
    assert not at.exception
    # a bogus slot is ignored: the page starts on the first slot that needs a default
    assert at.selectbox(key="defaults_slot").value == "image/background-removal"


def test_an_empty_catalogue_says_so(empty_db, engine, signed_in):
    make_user(engine, "admin", email="solo@example.com")
    at = signed_in("solo@example.com", page=PAGE)
    assert not at.exception
    assert "There are no models yet" in texts(at)
    assert not at.dataframe


def test_names_from_the_database_are_shown_literally(empty_db, engine, signed_in):
    make_user(engine, "admin", email="solo@example.com")
    provider = make_provider(engine)
    make_model(engine, provider, display_name="Plain", is_default=True, priority=1)
    make_model(engine, provider, display_name=HOSTILE, priority=1)
    at = signed_in("solo@example.com", page=PAGE)
    assert not at.exception
    assert _grid(at).loc["generation", "image"] == "Plain · 2"
    at = _pick(at, "image/generation", HOSTILE)
    _button(at, "Make default").click().run()
    [warning] = [w.value for w in at.warning]
    assert warning == md_escape(
        f"{HOSTILE} becomes the default for image/generation, replacing Plain. Confirm to apply."
    )
    assert hostile.markdown_problems(warning) == []
    _button(at, "Confirm").click().run()
    assert not at.exception
    [flash] = _flashed(at)
    assert flash == md_escape(f"{HOSTILE} is now the default for image/generation; it replaced Plain.")
    assert set(_defaults_table(at)["display_name"]) == {HOSTILE}  # dataframe cells are shown as plain text
    assert _grid(at).loc["generation", "image"] == f"{HOSTILE} · 2"


def test_the_review_shows_the_traffic_that_would_move(demo_db, engine, signed_in):
    level_with_the_pick(engine)  # Flux Schnell level with SDXL 1.0, which had 14 jobs in the last 7 days
    at = _pick(signed_in(page=PAGE), "image/generation", "Flux Schnell")
    _button(at, "Make default").click().run()
    assert not at.exception
    moves = at.dataframe[-1].value
    row = moves[moves["From"] == "SDXL 1.0"].iloc[0]
    assert (row["To"], row["Slot"]) == ("Flux Schnell", "image/generation")
    assert row["Jobs/day"] >= 2  # the 14 above, and any of the demo's own from those days
    assert " → " in row["Spend/day"] and " → " in row["Failure rate"]
    assert "Traffic that would move, from the last 7 days' jobs" in texts(at)
