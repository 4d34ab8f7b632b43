"""The Models page: browse, filter, search, page, export and open, as an admin and as a plain user."""

import json
import re
from datetime import datetime
from decimal import Decimal

import pandas as pd
import sqlalchemy as sa
from streamlit.runtime.media_file_manager import MediaFileManager

from dashboard.demo.catalogue import SDXL_ID
from tests import hostile
from tests.app.conftest import texts


def _table(at) -> pd.DataFrame:
    return at.dataframe[0].value


def test_an_admin_sees_every_model_sorted_as_routing_orders_them(demo_db, signed_in):
    """Priority, then the default first (the seed's is_default DESC), then name: what "as routing" says."""
    at = signed_in(page="pages/models.py")
    assert not at.exception
    frame = _table(at)
    assert len(frame) == 32
    shown = list(zip(frame["priority"], ~frame["is_default"].astype(bool), frame["display_name"], strict=True))
    assert shown == sorted(shown)
    assert "1–32 of 32 models" in texts(at)


def test_a_plain_user_sees_active_models_only_and_is_told_why(demo_db, signed_in):
    at = signed_in("viewer@example.com", page="pages/models.py")
    assert not at.exception
    assert len(_table(at)) == 28
    assert "Only admins can change" in texts(at)
    assert not [b for b in at.button if b.label == "New model"]


def test_search_matches_name_key_and_family(demo_db, signed_in):
    at = signed_in(page="pages/models.py")
    at.text_input(key="f_search").input("whisper").run()
    assert set(_table(at)["display_name"]) == {"Whisper large-v3", "Whisper (OpenAI API)"}
    at.text_input(key="f_search").input("flux").run()
    assert len(_table(at)) == 3  # two FLUX models plus Flux Fill by family


def test_filters_combine(demo_db, signed_in):
    at = signed_in(page="pages/models.py")
    at.selectbox(key="f_modality").select("audio").run()
    at.selectbox(key="f_task").select("tts").run()
    assert set(_table(at)["task"]) == {"tts"}
    at.toggle(key="f_default").set_value(True).run()
    assert list(_table(at)["display_name"]) == ["Eleven Multilingual v2"]


def test_filters_are_kept_in_the_url(demo_db, signed_in):
    at = signed_in(page="pages/models.py", modality="video", q="gen")
    assert set(_table(at)["modality"]) == {"video"}
    assert at.text_input(key="f_search").value == "gen"


def test_hostile_url_parameters_are_ignored_or_searched_literally(demo_db, signed_in):
    at = signed_in(
        page="pages/models.py",
        modality="'; drop table api_models; --",
        status="<script>",
        sort="1=1",
        provider="not-a-uuid",
        q="%_%",
    )
    assert not at.exception
    assert at.selectbox(key="f_modality").value == "All"
    assert "No model matches" in texts(at)  # "%_%" is searched for literally, not as a wildcard


def test_a_search_with_no_match_says_what_to_do(demo_db, signed_in):
    at = signed_in(page="pages/models.py")
    at.text_input(key="f_search").input("nothing is called this").run()
    assert "No model matches these filters" in texts(at)


def test_an_empty_catalogue_is_not_an_error(empty_db, engine, signed_in):
    from tests.factories import make_user

    make_user(engine, "admin", email="solo@example.com")
    at = signed_in("solo@example.com", page="pages/models.py")
    assert not at.exception
    assert "No model matches" in texts(at)


def test_paging_in_sql(demo_db, signed_in):
    at = signed_in(page="pages/models.py")
    at.selectbox(key="models_page_size").select(25).run()
    assert len(_table(at)) == 25
    at.number_input(key="models_page").set_value(2).run()
    assert len(_table(at)) == 7
    assert "26–32 of 32" in texts(at)


# ─── Columns, names, clearing, exports ───────────────────────────────────────────────────────────
def _served(at, managers: list[MediaFileManager]) -> dict[str, tuple[str, bytes]]:
    """Each export button's file name and what it serves (its deferred callable run, as a click would)."""
    files = {}
    for button in at.get("download_button"):
        entry = next(
            m._deferred_callables[button.proto.deferred_file_id]
            for m in managers
            if button.proto.deferred_file_id in m._deferred_callables
        )
        data = entry["callable"]()
        files[button.proto.label] = (entry["filename"], data.encode("utf-8") if isinstance(data, str) else data)
    return files


def test_the_table_shows_version_price_and_the_providers_display_name_as_the_filter_does(demo_db, signed_in):
    at = signed_in(page="pages/models.py", q="SDXL 1.0")
    row = _table(at).iloc[0]
    assert (row["version"], row["price"], row["provider_name"]) == ("1.0", "0.0023 USD / image", "Replicate")
    at = signed_in(page="pages/models.py")
    filter_names = set(at.selectbox(key="f_provider").options)  # as the selectbox shows them
    assert set(_table(at)["provider_name"]) <= filter_names  # one name for a provider, wherever it is shown


def test_the_model_key_column_is_wide_enough_for_the_longest_demo_key():
    from dashboard.ui.model_views import TABLE_COLUMNS

    # Measured in Chromium (tests/browser/test_journey.py checks it there): the 82-character SDXL key is 535 px in
    # the table's font, a cell pads 8 px a side, and at 1920 px the table is 1458 px wide, 32 of them tick boxes.
    assert TABLE_COLUMNS["model_key"]["width"] >= 535 + 16
    assert sum(c["width"] for c in TABLE_COLUMNS.values()) <= 1458 - 32
    assert TABLE_COLUMNS["display_name"]["pinned"] is True  # narrower screens scroll sideways with the name kept


def test_clear_filters_shows_everything_again(demo_db, signed_in):
    at = signed_in(page="pages/models.py", modality="audio", q="whisper", default="1")
    assert len(at.dataframe) == 0 or len(_table(at)) < 32
    at.button(key="f_clear").click().run()
    assert not at.exception
    assert len(_table(at)) == 32
    assert at.text_input(key="f_search").value == "" and at.selectbox(key="f_modality").value == "All"
    assert not {"q", "modality", "default"} & set(at.query_params)


def test_exports_are_named_after_the_filters_and_carry_ids_and_times(demo_db, engine, signed_in, downloads):
    at = signed_in(page="pages/models.py")
    assert {label: name for label, (name, _) in _served(at, downloads).items()} == {
        "Export CSV": "models.csv",
        "Export JSON": "models.json",
    }
    at = signed_in(page="pages/models.py", modality="image", task="generation")
    files = _served(at, downloads)
    name, data = files["Export CSV"]
    assert name == "models-image-generation.csv"
    rows = hostile.csv_rows(data)
    with engine.connect() as conn:
        sdxl = conn.execute(
            sa.text("select id, created_at, updated_at from api_models where id = :i"), {"i": SDXL_ID}
        ).one()
    exported = next(r for r in rows if r["id"] == str(SDXL_ID))
    assert exported["provider"] == "replicate"  # api_providers.name: what an import matches on
    assert datetime.fromisoformat(exported["created_at"]) == sdxl.created_at
    assert datetime.fromisoformat(exported["updated_at"]) == sdxl.updated_at
    document = json.loads(files["Export JSON"][1])
    assert {m["id"] for m in document["models"]} == {r["id"] for r in rows}
    assert files["Export JSON"][0] == "models-image-generation.json"


def test_export_file_names_are_safe_for_hostile_filters():
    from dashboard.services.catalogue import ModelFilters, export_file_name

    assert export_file_name(ModelFilters(modality="image", task="generation"), "csv") == "models-image-generation.csv"
    for value in (*hostile.STORABLE, *hostile.URL_VALUES, *hostile.TEXT, hostile.NUL):
        name = export_file_name(ModelFilters(search=value, task=value[:64]), "csv", provider=value)
        assert re.fullmatch(r"models(-[a-z0-9]+)*\.csv", name), (value[:40], name)
        assert len(name) <= 124


def test_the_price_summary_is_safe_for_any_pricing():
    from dashboard.services.catalogue import price_summary

    assert price_summary({"per_second": 0.05, "currency": "USD", "billing_unit": "per_second"}) == "0.05 USD / second"
    assert price_summary({"per_1k_tokens": Decimal("0.0010"), "currency": "EUR"}) == "0.001 EUR / 1K tokens"
    assert price_summary({"per_image": 1, "currency": hostile.LINK}) == "1 / image"
    for pricing in (
        None,
        [],
        "x",
        1,
        {},
        {"billing_unit": []},
        {"per_image": True},
        {"per_image": "0.1"},
        hostile.JSON_OBJECT,
        {text[:40]: 1 for text in hostile.STORABLE},
        {"billing_unit": hostile.RLO, hostile.RLO: 1},
    ):
        assert price_summary(pricing) == ""


def test_hostile_filter_values_in_the_url_make_a_safe_export_name(demo_db, signed_in, downloads):
    at = signed_in(page="pages/models.py", q=hostile.LINK + hostile.RLO, status="inactive")
    assert not at.exception
    name, _ = _served(at, downloads)["Export CSV"]
    assert re.fullmatch(r"models(-[a-z0-9]+)*\.csv", name)
