"""What an admin's first clicks in a new server process read, read by the server while the admin reads the Overview.

An admin lands on the Overview and reads it before going on. In a server process just started, the first Usage
click read the page's catalogue (126 ms at 10,000 models), worked out its cost bases (41 ms) and read the past of
its default range (212 ms with 10M jobs spread over every model), and the first editor open worked out every
model's label for its switcher (140 ms); in a real browser both took over a second. So once the Overview is drawn,
a background thread reads them as this person, once per database, reader and catalogue version: the click then
finds them kept, as it would on its second visit. What is read is what the click would read, through the same
caches, so nothing is less exact: the counts' copies are checked against the versions at every click, and kept
catalogue reads are brought up to date after a write as ever. Nothing is drawn or sent.

Only the web server turns this on (dashboard/ui/server.py): tests that drive the app with AppTest leave it off,
so that no read of theirs runs on after their run. dashboard/ui/tab_warmup.py does the same for the browser's
code.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from streamlit.runtime.scriptrunner import add_script_run_ctx

ENABLED = False
READS: tuple[Callable[[], None], ...] = ()  # what is read (empty: _reads()); tests put their own here
_KEPT = 64  # (database, reader, version) remembered as read, the oldest forgotten first
_started: OrderedDict[tuple, threading.Thread] = OrderedDict()
_lock = threading.Lock()


def after_landing() -> None:
    """Start the reads in a background thread, unless this database, reader and catalogue version had them."""
    if not ENABLED:
        return
    from dashboard.ui import cached
    from dashboard.ui.context import context

    ctx = context()
    key = (ctx.engine.url.render_as_string(hide_password=True), cached.reader(), ctx.cache_version)
    reads = READS or _reads()

    def run() -> None:
        for read in reads:
            try:
                read()
            except Exception:  # noqa: BLE001 — signed out, a role revoked, a lost connection: the click reads it
                pass

    with _lock:
        if key in _started:
            return
        thread = threading.Thread(target=run, name="landing-warmup", daemon=True)
        add_script_run_ctx(thread)  # this session's: its cached reads are keyed and checked as the click's are
        _started[key] = thread
        while len(_started) > _KEPT:
            _started.popitem(last=False)
    thread.start()


def _reads() -> tuple[Callable[[], None], ...]:
    # Imported here, not by the module: server.py imports this before Streamlit's runtime exists, and the pages'
    # cached reads would then each log that they found none.
    from dashboard.ui import editor_parts, usage_report

    return (usage_report.read_first_view, editor_parts.read_switcher)


def settle(timeout: float = 60) -> None:
    """Wait for the reads under way (tests)."""
    with _lock:
        threads = list(_started.values())
    for thread in threads:
        if thread.ident is not None:
            thread.join(timeout)
