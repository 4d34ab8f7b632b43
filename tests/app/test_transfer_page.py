"""The Import and export page: a dry run with every problem named, apply after confirming, exports that read back."""

import json

import pytest
import sqlalchemy as sa

from tests import hostile
from tests.app.conftest import texts

PAGE = "pages/transfer.py"
HEAD = "provider,model_key,version,display_name,modality,task,priority\n"


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _paste(at, text: str):
    area = next(t for t in at.text_area if t.key.startswith("import_text_"))
    area.input(text).run()
    return at


def test_a_pasted_csv_is_dry_run_then_applied_after_confirming(demo_db, engine, signed_in):
    at = _paste(
        signed_in(page=PAGE),
        HEAD + "replicate,acme/new,,Acme New,image,generation,8\n"
        "replicate,black-forest-labs/flux-1.1-pro,1.1,Flux 1.1 Pro,image,generation,3\n",
    )
    assert not at.exception, at.exception
    assert _metrics(at) == {"New": "1", "Changed": "1", "Unchanged": "0", "With problems": "0"}
    plan = at.dataframe[0].value
    assert ("priority", "2", "3") in set(zip(plan["Field"], plan["Before"], plan["After"], strict=True))
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from api_models where model_key = 'acme/new'")).scalar() == 0
    at.button(key="import_apply").click().run()
    assert "Write 1 new and 1 changed models" in texts(at)
    at.button(key="import_apply_yes").click().run()
    assert not at.exception
    assert "Imported: 1 new and 1 changed models." in texts(at)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from api_models where model_key = 'acme/new'")).scalar() == 1


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("provider,model_key,colour\nx,y,z\n", "unknown columns"),
        ('{"models": [', "the JSON is broken"),
        ("just words", "missing columns"),
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
    ],
)
def test_an_unreadable_file_is_refused_with_the_reason(demo_db, signed_in, text, says):
    at = _paste(signed_in(page=PAGE), text)
    assert not at.exception
    assert "This file cannot be imported" in texts(at) and says in texts(at)
    assert not [b for b in at.button if b.key == "import_apply"]


def test_problems_are_listed_and_nothing_can_be_applied(demo_db, engine, signed_in):
    at = _paste(
        signed_in(page=PAGE),
        HEAD + f"nobody,a/b,,{hostile.LINK} {hostile.HTML},image,generation,1\nreplicate,c/d,,C,image,Bad Task!,1\n",
    )
    assert _metrics(at)["With problems"] == "2"
    plan = at.dataframe[0].value
    assert set(plan["Field"]) >= {"provider", "task"}
    assert "Fix the problems listed above" in texts(at)
    assert not [b for b in at.button if b.key == "import_apply"]


def test_an_unchanged_file_says_there_is_nothing_to_do(demo_db, engine, signed_in):
    from dashboard.services.transfer import TransferService, to_json

    with engine.connect() as conn:
        admin = conn.execute(sa.text("select id from auth.users where email = 'admin@example.com'")).scalar_one()
    exported = to_json(TransferService(engine, user_id=admin).export_rows())
    at = _paste(signed_in(page=PAGE), exported)
    assert _metrics(at)["Unchanged"] == "32" and "Nothing to import" in texts(at)
    assert json.loads(exported)["format"] == "api_models/v1"


def test_plain_users_are_not_given_the_page(demo_db, signed_in):
    at = signed_in("viewer@example.com")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(f"../../{PAGE}")


def _open_tab(at) -> int:
    """The tab the page tells the browser to show (its tab container's index)."""
    from streamlit.proto.Block_pb2 import Block

    nodes = [at.main]
    while nodes:
        node = nodes.pop()
        if isinstance(getattr(node, "proto", None), Block) and node.proto.HasField("tab_container"):
            return node.proto.tab_container.default_tab_index
        nodes.extend(getattr(node, "children", {}).values())
    raise AssertionError("no tabs on the page")


def test_the_import_tab_stays_open_after_applying_and_for_the_next_dry_run(demo_db, engine, signed_in):
    at = signed_in(page=PAGE)
    assert at.session_state["transfer_tab"] == "Export" and _open_tab(at) == 0  # the first visit opens Export
    at.session_state["transfer_tab"] = "Import"  # what clicking the Import tab does
    _paste(at.run(), HEAD + f"replicate,acme/one,,{hostile.HTML},image,generation,8\n")
    at.button(key="import_apply").click().run()
    at.button(key="import_apply_yes").click().run()
    assert not at.exception, at.exception
    assert "Imported: 1 new and 0 changed models." in texts(at)
    assert at.session_state["transfer_tab"] == "Import" and _open_tab(at) == 1
    _paste(at, HEAD + "replicate,acme/two,,Two,image,generation,9\n")
    assert at.session_state["transfer_tab"] == "Import" and _open_tab(at) == 1
    assert _metrics(at)["New"] == "1"


def test_the_dry_run_writes_flags_as_true_and_false(demo_db, engine, signed_in):
    at = _paste(
        signed_in(page=PAGE),
        "provider,model_key,version,is_active,is_default\n"
        "replicate,stability-ai/sdxl:39ed52f2a78e934b3ba6e2a89f5b1c712de7dfea535525255b1aa35c5565e08b,1.0,"
        "0,no\n",
    )
    assert not at.exception, at.exception
    plan = at.dataframe[0].value
    flags = {f: (b, a) for f, b, a in zip(plan["Field"], plan["Before"], plan["After"], strict=True)}
    assert flags["is_active"] == ("true", "false") and flags["is_default"] == ("true", "false")
    assert not {"True", "False", "1", "0"} & (set(plan["Before"]) | set(plan["After"]))


def test_the_review_shows_the_traffic_that_would_move(demo_db, engine, signed_in):
    with engine.begin() as conn:  # 14 jobs of SDXL 1.0 in the last 7 days
        conn.execute(
            sa.text(
                "insert into jobs (api_model_id, status, created_at) select id, 'completed', "
                "date_trunc('hour', now()) - interval '2 days' from api_models, generate_series(1, 14) "
                "where display_name = 'SDXL 1.0'"
            )
        )
    at = _paste(
        signed_in(page=PAGE), HEAD + "replicate,black-forest-labs/flux-1.1-pro,1.1,Flux 1.1 Pro,image,generation,0\n"
    )
    at.button(key="import_apply").click().run()
    assert not at.exception, at.exception
    moves = next(d.value for d in reversed(at.dataframe) if "From" in d.value.columns)
    row = moves[moves["From"] == "SDXL 1.0"].iloc[0]
    assert row["To"] == "Flux 1.1 Pro" and row["Jobs/day"] >= 2
