"""Plotly's code, made ready while an admin's tab is idle, so that the first chart opened in a tab does not wait.

Streamlit loads its Plotly chunk (about 4.7 MB of JavaScript) the first time a tab draws a chart. On two cores,
reading and running it takes about 0.8 s of the browser's only thread, so the first chart page of a tab (Usage,
Health, the editor's usage) took that much longer than every later one. Here the tab imports that same chunk
itself once its first page has been still for a second: the browser's import of it, when a chart comes, finds it
ready. A click in the 0.8 s the import takes waits for it, as it would have waited on the first chart.

Only admins get it (plain users' pages have no charts). Nothing is drawn, nothing is sent but this script, and
if the Streamlit installed names its chunk otherwise, nothing is done and charts load as they always did.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import streamlit as st

CHUNK_PATTERN = "PlotlyChart.*.js"
_CHUNK_NAME = re.compile(r"PlotlyChart\.[A-Za-z0-9_-]+\.js")
QUIET_MS = 1000  # how long the page must have been still: the import never competes with a page being drawn

# The chunk's address is taken from Streamlit's own entry script, so that it is the very module Streamlit imports
# (one copy, run once) wherever the app is served from (a path prefix included).
_SCRIPT = """<script>
(() => {
  if (window.__dashboardChartsReady) return;
  window.__dashboardChartsReady = true;
  const entry = document.querySelector('script[type="module"][src*="static/js/index."]');
  if (!entry) return;
  const chunk = new URL(%(chunk)s, entry.src).href;
  const load = () => import(chunk).catch(() => {});
  let timer;
  const still = () => {
    watch.disconnect();
    (window.requestIdleCallback || ((run) => setTimeout(run, 0)))(load, {timeout: 2000});
  };
  const watch = new MutationObserver(() => { clearTimeout(timer); timer = setTimeout(still, %(quiet)d); });
  watch.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
  timer = setTimeout(still, %(quiet)d);
})();
</script>"""


def chunk_in(folder: Path) -> str | None:
    """The file name of the Plotly chunk among Streamlit's scripts in folder, or None when there is not exactly one
    file of the expected form (a Streamlit that bundles charts otherwise)."""
    found = [path.name for path in folder.glob(CHUNK_PATTERN) if _CHUNK_NAME.fullmatch(path.name)]
    return found[0] if len(found) == 1 else None


@cache
def plotly_chunk() -> str | None:
    """The installed Streamlit's Plotly chunk (see chunk_in)."""
    return chunk_in(Path(st.__file__).parent / "static" / "static" / "js")


def script(chunk: str) -> str:
    """The script that imports chunk once the page has been still for QUIET_MS (a fixed file name, checked)."""
    if not _CHUNK_NAME.fullmatch(chunk):
        raise ValueError(f"not a Plotly chunk's file name: {chunk!r}")
    return _SCRIPT % {"chunk": json.dumps(chunk), "quiet": QUIET_MS}


def render() -> None:
    """At the end of the sidebar (the same place on every page: drawn once, it stays), for admins' runs only."""
    chunk = plotly_chunk()
    if chunk is not None:
        st.sidebar.html(script(chunk), unsafe_allow_javascript=True)
