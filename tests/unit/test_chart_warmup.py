"""The tab's Plotly warm-up: it names the installed Streamlit's own chunk, and nothing else gets into its script."""

import json

import pytest

from dashboard.ui import chart_warmup
from tests import hostile


def test_the_installed_streamlit_has_one_plotly_chunk_and_the_script_names_it():
    # If a Streamlit upgrade bundles charts otherwise, this fails: the warm-up would silently do nothing.
    chunk = chart_warmup.plotly_chunk()
    assert chunk is not None and chunk.startswith("PlotlyChart.") and chunk.endswith(".js")
    body = chart_warmup.script(chunk)
    assert json.dumps(chunk) in body
    assert body.count("<script>") == 1 and body.rstrip().endswith("</script>")
    assert f"setTimeout(still, {chart_warmup.QUIET_MS})" in body


@pytest.mark.parametrize(
    "name",
    [
        'PlotlyChart.x.js"); alert(1); ("',
        "PlotlyChart.</script><script>alert(1)</script>.js",
        "../PlotlyChart.abc.js",
        "https://example.com/PlotlyChart.abc.js",
        "PlotlyChart.abc.js?x=1",
        hostile.HTML,
        "",
    ],
)
def test_a_name_that_is_not_a_chunks_file_name_never_reaches_the_script(name):
    with pytest.raises(ValueError, match="not a Plotly chunk"):
        chart_warmup.script(name)


def test_no_chunk_or_two_of_them_mean_no_warm_up(tmp_path):
    assert chart_warmup.chunk_in(tmp_path) is None
    for name in ("PlotlyChart.aaa.js", "PlotlyChart.bbb.js", "PlotlyChart.a b.js", "PlotlyChart..js"):
        (tmp_path / name).write_text("")
    assert chart_warmup.chunk_in(tmp_path) is None  # two of the expected form: which one Streamlit loads is unknown
    (tmp_path / "PlotlyChart.bbb.js").unlink()
    assert chart_warmup.chunk_in(tmp_path) == "PlotlyChart.aaa.js"
