"""What an admin's first clicks in a new server process read, read by the server while the admin reads the Overview.

An admin lands on the Overview and reads it before going on. In a server process just started, the first Usage
click read the page's catalogue (126 ms at 10,000 models), worked out its cost bases (41 ms) and read the past of
its default range (212 ms with 10M jobs spread over every model), and the first editor open worked out every
model's label for its switcher (140 ms); in a real browser both took over a second. So once the Overview is drawn,
a background thread reads them as this person, once per database, reader and catalogue version: the click then
finds them kept, as it would on its second visit. What is read is what the click would read, through the same
caches, so nothing is less exact: the counts' copies are checked against the versions at every click, and kept
catalogue reads are brought up to date after a write as ever. Nothing is drawn or sent.

Before that, a process just started has read nothing at all: its first sign-in read the accounts' hash cost and made
the dummy hash an unknown email is checked against (about 80 ms at cost 10), and the first admin's Overview also
imported the pages' code and read the past 30 days of every model for its job figures. So the first page a server
process draws, the sign-in form most often, starts a thread that does the sign-in's part, imports that code and
reads that past as the service role, while the person types: the copy is kept per database, not per person
(usage_past), and a read uses it only when its own snapshot, read as its own person, shows the versions it was read
under (RLS shows them to admins and the service role alone); the models counted are still those the person sees.
After a time with no dashboard running, that read meets a backlog of deltas and starts a fold in the background
(services/usage_folding.py), which moves the versions of the days it folds into; the thread waits for that fold and
reads the past again, so that the first Overview finds a copy of the folded rollups (its job figures 86–175 ms
instead of about 430 ms after a day of writes, 10M jobs spread over 10,000 models). Nothing is drawn or sent; once
per database and process.
Health's copies of past hours and days (usage_spans) are not read here: at 10,000 models and 10M jobs spread over
them that read took about 3 s, and a person signing in within those seconds (a password manager) had their first
Overview slowed by about 1 s. Read as arrays it takes about 1 s, and it still slowed such a sign-in (1,521–1,740 ms
against 1,411–1,477 ms, interleaved); the first report starts that read itself, as it always did.

Only the web server turns this on (dashboard/ui/server.py): tests that drive the app with AppTest leave it off,
so that no read of theirs runs on after their run. dashboard/ui/tab_warmup.py does the same for the browser's
code.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from sqlalchemy.engine import Engine
from streamlit.runtime.scriptrunner import add_script_run_ctx

from dashboard.database import SERVICE_ROLE
from dashboard.services import usage_folding
from dashboard.services.auth import prepare_sign_in
from dashboard.services.catalogue import CatalogueService
from dashboard.services.usage import UsageService

ENABLED = False
READS: tuple[Callable[[], None], ...] = ()  # what is read (empty: _reads()); tests put their own here
_KEPT = 64  # (database, reader, version) remembered as read, the oldest forgotten first
_started: OrderedDict[tuple, threading.Thread] = OrderedDict()
_lock = threading.Lock()
FOLD_WAIT_SECONDS = 30  # how long the first page's reads wait for a backlog's fold before reading the past again


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
        _remember(key, thread)
    thread.start()


def _remember(key: tuple, thread: threading.Thread) -> None:
    """Note the thread as started under key (the oldest forgotten past _KEPT); the caller holds _lock."""
    _started[key] = thread
    while len(_started) > _KEPT:
        _started.popitem(last=False)


def at_first_page(engine: Engine, read_engine: Engine | None) -> None:
    """Start the process's own reads (see the module's text) in a background thread, once per database."""
    if not ENABLED:
        return
    key = ("process", engine.url.render_as_string(hide_password=True))
    with _lock:
        if key in _started:
            return
        thread = threading.Thread(target=_process_reads, args=(engine, read_engine), name="start-warmup", daemon=True)
        _remember(key, thread)
    thread.start()


def _process_reads(engine: Engine, read_engine: Engine | None) -> None:
    try:  # the sign-in's own first costs: the hash cost read and the dummy hash made for it
        prepare_sign_in(engine)
    except Exception:  # noqa: BLE001 — a lost connection: the sign-in reads it as it always did
        pass
    try:
        # The code an admin's Overview runs first (the pages' own modules; their reads come with the person).
        from dashboard.ui import health_view, model_views  # noqa: F401

        # The 30 days' past per model, kept per database (usage_past), that the Overview's job figures add today to.
        usage = UsageService(engine, user_id=SERVICE_ROLE, read_db=read_engine)
        CatalogueService(engine, user_id=SERVICE_ROLE).recent_jobs(usage=usage)
        # A backlog met: the fold it started moved the versions the copy is of.
        if usage_folding.wait_for_background_folds(FOLD_WAIT_SECONDS):
            CatalogueService(engine, user_id=SERVICE_ROLE).recent_jobs(usage=usage)
    except Exception:  # noqa: BLE001 — no service role, a lost connection: the first Overview reads as it always did
        pass


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
