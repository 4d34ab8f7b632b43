"""The Models page: browse, filter, search, page, export and open, as an admin and as a plain user."""

import pandas as pd

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
    at = signed_in(page="pages/models.py", modality="'; drop table api_models; --", status="<script>",
                   sort="1=1", provider="not-a-uuid", q="%_%")  # fmt: skip
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
