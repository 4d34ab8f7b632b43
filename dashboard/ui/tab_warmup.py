"""The browser code an admin's next pages need, made ready while the tab is idle, so the first table and the first
chart of a tab do not wait for it.

Streamlit loads the code of its tables (about 1.2 MB of JavaScript with what it needs) and of its Plotly charts
(4.7 MB) the first time a tab draws one. On two cores, reading and running it holds the browser's only thread: about
0.2 s for the first table, 0.8 s for the first chart, paid by the first click on Models and on Usage of every tab.
An admin lands on the Overview, which draws neither, and reads it. So the tab imports that same code itself once the
page has been still for a second (tables first, then charts, each when the browser is idle), and the click that
needs it finds it ready. A click in the time an import takes waits for it, as it would have waited anyway. While the
page's script is still running (a slow first report, say), the page is not still: the imports wait for its end.

Only admins get this (a plain user lands on Models, which loads the table code at once, and has no charts). Nothing
is drawn and nothing is sent but this script; a chunk this Streamlit names otherwise is left to load as it always
did.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import streamlit as st

# Streamlit's chunks, in the order they are made ready: Models (a table) is the Overview's most common next page.
CHUNKS = ("DataFrame", "PlotlyChart")
# How long the page must have been still, its script not running: an import never competes with a page being drawn.
QUIET_MS = 1000
_NAME = re.compile(r"(?P<chunk>[A-Za-z]+)\.[A-Za-z0-9_-]+\.js")

# The chunks' addresses are taken from Streamlit's own entry script, so that each is the very module Streamlit
# imports (one copy, run once) wherever the app is served from (a path prefix included).
_SCRIPT = """<script>
(() => {
  if (window.__dashboardTabWarm) return;
  window.__dashboardTabWarm = true;
  const entry = document.querySelector('script[type="module"][src*="static/js/index."]');
  if (!entry) return;
  const chunks = %(chunks)s.map((name) => new URL(name, entry.src).href);
  const idle = window.requestIdleCallback || ((run) => setTimeout(run, 0));
  const next = () => {
    const chunk = chunks.shift();
    if (chunk) idle(() => import(chunk).catch(() => {}).then(next), {timeout: 2000});
  };
  let timer;
  const still = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (app && app.getAttribute('data-test-script-state') === 'running') {  // a slow run, not a still page
      timer = setTimeout(still, %(quiet)d);
      return;
    }
    watch.disconnect();
    next();
  };
  const watch = new MutationObserver(() => { clearTimeout(timer); timer = setTimeout(still, %(quiet)d); });
  watch.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
  timer = setTimeout(still, %(quiet)d);
})();
</script>"""


def chunks_in(folder: Path) -> list[str]:
    """The file names of CHUNKS among Streamlit's scripts in folder, in CHUNKS' order. A chunk that has not exactly
    one file of the expected form (a Streamlit that bundles it otherwise) is left out."""
    found: dict[str, list[str]] = {}
    for path in folder.glob("*.js"):
        match = _NAME.fullmatch(path.name)
        if match and match["chunk"] in CHUNKS:
            found.setdefault(match["chunk"], []).append(path.name)
    return [found[chunk][0] for chunk in CHUNKS if len(found.get(chunk, ())) == 1]


@cache
def installed_chunks() -> tuple[str, ...]:
    """The installed Streamlit's chunks (see chunks_in)."""
    return tuple(chunks_in(Path(st.__file__).parent / "static" / "static" / "js"))


def script(chunks: list[str] | tuple[str, ...]) -> str:
    """The script that imports the chunks, one after another, once the page has been still for QUIET_MS (fixed file
    names, each checked)."""
    for chunk in chunks:
        match = _NAME.fullmatch(chunk)
        if not match or match["chunk"] not in CHUNKS:
            raise ValueError(f"not the file name of one of Streamlit's {', '.join(CHUNKS)} chunks: {chunk!r}")
    return _SCRIPT % {"chunks": json.dumps(list(chunks)), "quiet": QUIET_MS}


def render() -> None:
    """At the end of the sidebar (the same place on every page: drawn once, it stays), for admins' runs only."""
    chunks = installed_chunks()
    if chunks:
        st.sidebar.html(script(chunks), unsafe_allow_javascript=True)
