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
imported the pages' code, read the past 30 days of every model for its job figures and Health's past hours and days.
So when the web server starts (at_server_start; or at the first page it draws, if the database could not be reached
then), a thread does the sign-in's part, imports that code and reads that past as the service role, before anyone
has signed in: the copies are kept per database, not per person (usage_past, usage_spans), and a read uses them only
when its own snapshot, read as its own person, shows the versions they were read under (RLS shows them to admins and
the service role alone); the models counted are still those the person sees. At 10,000 models and 10M jobs spread
over them, a fresh server's sign-in then took 507–596 ms against 592–818 ms (the Overview's Health report 141 ms
instead of about 580). After a time with no dashboard running, the first read meets a backlog of deltas and starts
a fold in the background (services/usage_folding.py), which moves the versions of the days it folds into; the thread
waits for that fold and reads the 30 days again, so that the first Overview finds a copy of the folded rollups (its
job figures 86–175 ms instead of about 430 ms after a day of writes). Started with the server rather than at the
first page, that fold (3–5 s after a day) is over sooner: a sign-in 1.5 s after the form appeared took 944–1,524 ms
against 1,526–1,584 ms. Health's copies are then left to the first report: read after such a fold they competed with
that sign-in (2.2–3.8 s against 1.8–2.5 s). Nothing is drawn or sent; once per database and process.

Only the web server turns this on (dashboard/ui/server.py): tests that drive the app with AppTest leave it off,
so that no read of theirs runs on after their run. dashboard/ui/tab_warmup.py does the same for the browser's
code.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable

from sqlalchemy.engine import Engine
from streamlit.runtime.scriptrunner import add_script_run_ctx

from dashboard.database import SERVICE_ROLE
from dashboard.services import usage_folding
from dashboard.services.auth import prepare_sign_in
from dashboard.services.catalogue import CatalogueService
from dashboard.services.health import HealthService
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


def at_server_start() -> None:
    """Start the process's own reads (see the module's text) when the web server starts, with the pages' own engines,
    so that a backlog met there is folding, or folded, before anyone has signed in. A database that cannot be reached
    yet is left to the first page, which starts them (at_first_page) if they have not run."""
    if not ENABLED:
        return

    def run() -> None:
        from dashboard.ui.context import get_engine, load_settings, usage_read_engine

        try:
            settings = load_settings()
            engine = get_engine(settings.database_url, str(settings.data_dir))
            read_engine = usage_read_engine(settings)
        except Exception:  # noqa: BLE001 — down, or not set up yet: the first page says so and starts the reads
            return
        at_first_page(engine, read_engine)

    logging.getLogger(_RUN_CONTEXT_LOGGER).addFilter(_quiet_server_start)
    thread = threading.Thread(target=run, name=_SERVER_START, daemon=True)
    with _lock:
        _remember(("server start", id(thread)), thread)
    thread.start()


_SERVER_START = "server-start"
_RUN_CONTEXT_LOGGER = "streamlit.runtime.scriptrunner_utils.script_run_context"


def _quiet_server_start(record: logging.LogRecord) -> bool:
    """The pages' engine is made under a spinner, which warns of a missing ScriptRunContext off a page's run: that is
    what the server-start thread is, on purpose."""
    return threading.current_thread().name != _SERVER_START


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
            return  # late already: Health's copies (below) would now compete with the first sign-in's reads
        # Health's copies of past hours and days (usage_spans), kept per database like the past above: the first
        # Overview's report then reads only the current hour and the deltas.
        HealthService(engine, user_id=SERVICE_ROLE, read_db=read_engine).report(health_view.DEFAULT_WINDOW, detail=0)
    except Exception:  # noqa: BLE001 — no service role, a lost connection: the first Overview reads as it always did
        pass


def _reads() -> tuple[Callable[[], None], ...]:
    # Imported here, not by the module: server.py imports this before Streamlit's runtime exists, and the pages'
    # cached reads would then each log that they found none.
    from dashboard.ui import editor_parts, usage_report

    return (usage_report.read_first_view, editor_parts.read_switcher)


def settle(timeout: float = 60) -> None:
    """Wait for the reads under way, those they start included (tests)."""
    joined: set[threading.Thread] = set()
    while True:
        with _lock:
            threads = [t for t in _started.values() if t not in joined and t.ident is not None]
        if not threads:
            return
        for thread in threads:
            thread.join(timeout)
            joined.add(thread)
