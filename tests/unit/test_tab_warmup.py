"""The tab's warm-up: it names the installed Streamlit's own table and chart chunks, and nothing else gets into its
script."""

import json

import pytest

from dashboard.ui import tab_warmup
from tests import hostile


def test_the_installed_streamlit_has_each_chunk_once_and_the_script_names_them_in_order():
    # If a Streamlit upgrade bundles tables or charts otherwise, this fails: the warm-up would silently skip them.
    chunks = tab_warmup.installed_chunks()
    assert [name.split(".")[0] for name in chunks] == list(tab_warmup.CHUNKS)
    body = tab_warmup.script(chunks)
    assert json.dumps(list(chunks)) in body
    assert body.count("<script>") == 1 and body.rstrip().endswith("</script>")
    assert f"setTimeout(still, {tab_warmup.QUIET_MS})" in body


@pytest.mark.parametrize(
    "name",
    [
        'PlotlyChart.x.js"); alert(1); ("',
        "PlotlyChart.</script><script>alert(1)</script>.js",
        "../PlotlyChart.abc.js",
        "https://example.com/PlotlyChart.abc.js",
        "PlotlyChart.abc.js?x=1",
        "VegaLiteChart.abc.js",  # a real chunk's form, but not one the warm-up imports
        hostile.HTML,
        "",
    ],
)
def test_a_name_that_is_not_a_chunks_file_name_never_reaches_the_script(name):
    with pytest.raises(ValueError, match="not the file name of one of Streamlit's"):
        tab_warmup.script([name])


def test_a_chunk_missing_or_found_twice_is_left_out_and_the_others_kept_in_order(tmp_path):
    assert tab_warmup.chunks_in(tmp_path) == []
    for name in ("PlotlyChart.aaa.js", "PlotlyChart.bbb.js", "PlotlyChart.a b.js", "DataFrame..js", "index.x.js"):
        (tmp_path / name).write_text("")
    assert tab_warmup.chunks_in(tmp_path) == []  # two charts' chunks: which one Streamlit loads is unknown
    (tmp_path / "DataFrame.-f9-1zS0.js").write_text("")
    assert tab_warmup.chunks_in(tmp_path) == ["DataFrame.-f9-1zS0.js"]
    (tmp_path / "PlotlyChart.bbb.js").unlink()
    assert tab_warmup.chunks_in(tmp_path) == ["DataFrame.-f9-1zS0.js", "PlotlyChart.aaa.js"]
