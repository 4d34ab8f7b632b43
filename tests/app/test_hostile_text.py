"""Every page on a catalogue whose names, keys, tasks and JSON were written in SQL by someone hostile: what the
pages render from it is text (no link, autolink, image, HTML, heading, hidden character), and every CSV they
offer is safe in a spreadsheet."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from streamlit.runtime.media_file_manager import MediaFileManager

from dashboard.text import md_escape, visible
from tests import hostile
from tests.app.conftest import texts
from tests.factories import make_user

ADMIN = "admin@evil.example"  # an address Streamlit would autolink
MARKDOWN_KINDS = ("title", "header", "subheader", "markdown", "caption", "info", "success", "warning", "error", "toast")


@pytest.fixture
def catalogue(empty_db, engine) -> dict:
    make_user(engine, "admin", email=ADMIN)
    return hostile.write_hostile_catalogue(engine)


def served(at, managers: list[MediaFileManager]) -> dict[str, bytes]:
    """What each download button on the page serves (running a deferred one's callable as a click would)."""
    files = {}
    for button in at.get("download_button"):
        proto = button.proto
        if proto.HasField("deferred_file_id"):
            entry = next(
                m._deferred_callables[proto.deferred_file_id]
                for m in managers
                if proto.deferred_file_id in m._deferred_callables
            )
            data = entry["callable"]()
        else:
            name = proto.url.rsplit("/", 1)[-1]
            data = next(
                m._storage._files_by_id[name.split(".")[0]].content
                for m in managers
                if name.split(".")[0] in m._storage._files_by_id
            )
        files[proto.label] = data.encode("utf-8") if isinstance(data, str) else data
    return files


def page_problems(at) -> list[str]:
    """Everything on the page that would not show database text as text."""
    assert not at.exception, at.exception
    problems = []
    sources = [(kind, e.value) for kind in MARKDOWN_KINDS for e in getattr(at, kind)]
    sources += [("expander", e.label) for e in at.expander] + [("metric", e.label) for e in at.metric]
    sources += [("tab", e.label) for e in at.tabs]
    for kind, source in sources:
        problems += [f"{kind} {source[:60]!r}: {p}" for p in hostile.markdown_problems(str(source))]
    plain = [option for box in at.selectbox for option in box.options] + [e.value for e in at.code]
    plain += [s for e in at.json for s in hostile.json_strings(e.value)]
    for frame in (e.value for e in at.dataframe):
        data = frame.data if hasattr(frame, "data") else frame  # a Styler (the defaults grid) or a DataFrame
        plain += [cell for column in data.columns for cell in data[column] if isinstance(cell, str)]
    problems += [f"plain text {p[:60]!r} holds a hidden character" for p in plain if hostile.hidden_in(p) is not None]
    return problems


def test_the_overview(catalogue, engine, signed_in):
    with engine.begin() as conn:  # the hostile provider's defaults become warnings that name them
        conn.execute(sa.text("update api_providers set is_active = false where id = :id"), {"id": catalogue["evil"]})
    at = signed_in(ADMIN, page="pages/overview.py")
    assert page_problems(at) == []
    warnings = " ".join(w.value for w in at.warning)  # the first few slots, as alerts (markdown, escaped)
    listed = " ".join(t.value for e in at.expander for t in e.text)  # the rest, as plain text
    for text in (hostile.EMAIL, hostile.RLO):
        assert md_escape(text) in warnings or visible(text) in listed
    assert "\u202e" not in listed  # the override shown as an escape, not obeyed
    assert md_escape(f"Signed in as {ADMIN} · admin") in [c.value for c in at.sidebar.caption]


def test_the_models_table_and_its_exports(catalogue, signed_in, downloads):
    at = signed_in(ADMIN, page="pages/models.py")
    assert page_problems(at) == []
    shown = at.dataframe[0].value
    assert "model\\u202egnp.exe" in set(shown["display_name"])  # the override shown, not obeyed
    files = served(at, downloads)
    assert hostile.csv_problems(files["Export CSV"]) == []
    assert "\u202e" not in files["Export JSON"].decode() and "\\u202e" in files["Export JSON"].decode()


def test_the_defaults_page_and_changing_a_default(catalogue, signed_in):
    at = signed_in(ADMIN, page="pages/defaults.py")
    assert page_problems(at) == []
    at.selectbox(key="defaults_slot").set_value("image/generation").run()
    next(b for b in at.selectbox if b.key.startswith("defaults_model_")).select_index(0).run()
    next(b for b in at.button if b.label == "Make default").click().run()
    assert page_problems(at) == []
    assert "becomes the default for image/generation" in texts(at)  # the confirmation names both models


def test_the_providers_page_and_editing_one(catalogue, signed_in):
    at = signed_in(ADMIN, page="pages/providers.py")
    assert page_problems(at) == []
    at.selectbox(key="provider_pick").set_value(str(catalogue["evil"])).run()
    assert page_problems(at) == []
    assert at.subheader[0].value == f"Edit {md_escape(hostile.LINK + ' ' + hostile.RLO + ' ' + hostile.EMAIL)}"
    at.toggle(key=f"provider_is_active_{catalogue['evil']}").set_value(False).run()
    assert page_problems(at) == []  # the deactivation warning names the provider too


def test_routing_every_slot_one_slot_and_the_csv(catalogue, signed_in, downloads):
    at = signed_in(ADMIN, page="pages/routing.py")
    assert page_problems(at) == []
    assert hostile.csv_problems(served(at, downloads)["Export CSV"]) == []
    at = signed_in(ADMIN, page="pages/routing.py", modality="audio", task="generation")
    assert page_problems(at) == []
    [picked] = at.code  # the picked model's key: a code block, which never parses markdown
    assert picked.value.split("/")[-1].isdigit()
    assert len([m for m in at.markdown if m.value.startswith("**") and " · " in m.value]) == 1


def test_history_and_its_csv(catalogue, signed_in, downloads):
    at = signed_in(ADMIN, page="pages/history.py")
    assert page_problems(at) == []
    labels = " ".join(e.label for e in at.expander)
    assert md_escape(hostile.CR_FORMULA + " " + hostile.URL) in labels
    assert hostile.csv_problems(served(at, downloads)["Export CSV"]) == []


def test_usage_its_charts_and_every_csv(catalogue, signed_in, downloads):
    at = signed_in(ADMIN, page="pages/usage.py", range="all", active="0")
    assert page_problems(at) == []
    files = served(at, downloads)
    assert len(files) >= 5  # jobs, failure rate, per day, quality, spend, the table
    assert {label: hostile.csv_problems(data) for label, data in files.items()} == {label: [] for label in files}


def test_the_import_and_export_pages_exports(catalogue, signed_in, downloads):
    at = signed_in(ADMIN, page="pages/transfer.py")
    assert page_problems(at) == []
    files = served(at, downloads)
    assert hostile.csv_problems(files["Export CSV"]) == []
    assert hostile.hidden_in(files["Export JSON"].decode(), allow="\n") is None


def test_an_import_dry_run_of_a_hostile_file(catalogue, signed_in):
    at = signed_in(ADMIN, page="pages/transfer.py")
    head = "provider,model_key,display_name,modality,task\n"
    rows = "".join(f'plain,"{k}",x,image,generation\n' for k in (hostile.ESCAPE, hostile.LINK, hostile.RLO))
    area = next(t for t in at.text_area if t.key.startswith("import_text_"))
    area.input(head + rows + f'nobody,"{hostile.BLOCKS}",x,image,generation\n').run()
    assert page_problems(at) == []
    plan = at.dataframe[0].value
    refused = list(plan["Note"][plan["Field"] == "model_key"])  # named, with the character shown escaped
    assert [n.split("such as ")[1] for n in refused] == [
        "\\x1b (escape); remove them",
        "\\u202e (right-to-left override); remove them",
    ]


def test_the_editor_title(catalogue, signed_in):
    model = catalogue["models"][0]  # named LINK
    at = signed_in(ADMIN, page="pages/model_editor.py", id=str(model))
    assert not at.exception, at.exception
    assert at.title[0].value == md_escape(hostile.LINK)
    assert hostile.markdown_problems(at.title[0].value) == []
    assert hostile.LINK in texts(at)
