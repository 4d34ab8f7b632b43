"""The main journeys in a real headless Chromium (Debian's, driven by Playwright) against `python -m dashboard run`.

The app is started as the browser tests start it (tests/browser/conftest.py): `python -m dashboard run` on a free
port, loopback only, DATABASE_URL set. Each step is one click (or the Enter that commits a typed value), timed
from the moment it is sent until the page has settled: Streamlit's script state back to notRunning and no DOM
change for QUIET_MS. The figure is the time of the last DOM change after the click, so the quiet wait is not
counted. A run has begun once the script state says running or a websocket frame has come. For each step: the
websocket bytes received, the HTTP bodies fetched (static files apart) and the DOM nodes afterwards. The journey
runs twice in one browser: first signed in on the new server process's empty caches, then again in a new tab
(signed in by the session cookie, static files from the browser's cache): the warm figure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
QUIET_MS = 500
# After landing (signing in, a new tab) the journey waits this long before its first click, as a person reads the
# page they land on; every later click follows the one before as soon as the page is quiet. A tab makes the table
# and chart code ready in such a pause (dashboard/ui/tab_warmup.py): without one, its first table and chart pay.
READ_LANDING_MS = 3_000
START_WAIT_MS = 10_000
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
RUNNING = '[data-testid="stApp"][data-test-script-state="running"]'
# Every DOM change's time, in epoch milliseconds (the same clock as the harness's time.time()).
# And when the script state last turned notRunning (the run over, as the page learns it).
# A change inside a live region one pixel across is a screen reader's announcement ("4 options available."), which
# the select boxes clear a while after they were used: nothing anyone sees, so it does not count as drawing.
WATCH_DOM = """
window.__benchLast = Date.now();
window.__benchIdle = 0;
const __benchAnnounced = (node) => {
  const element = node && (node.nodeType === 1 ? node : node.parentElement);
  const region = element && element.closest('[aria-live]');
  if (!region) return false;
  const box = region.getBoundingClientRect();
  return box.width <= 1 || box.height <= 1;
};
new MutationObserver((records) => {
  const now = Date.now();
  for (const r of records) {
    if (!__benchAnnounced(r.target)) window.__benchLast = now;
    if (r.attributeName === 'data-test-script-state' && r.target.getAttribute(r.attributeName) === 'notRunning') {
      window.__benchIdle = now;
    }
  }
}).observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
"""
Action = Callable[[object], None]


@dataclass
class Step:
    group: str  # the summary table's row
    name: str
    commit: Action  # the timed click
    prepare: Action | None = None  # untimed: typing a value before the Enter that commits it
    took_effect: Callable[[object], bool] | None = None  # checked after: if not, the step is tried once more


@dataclass
class Timed:
    step: Step
    seconds: float
    received: int  # websocket bytes: what the app sent for this click
    fetched: int  # HTTP body bytes the click made the page fetch, but for static files (media, table chunks)
    static: int  # HTTP body bytes of static files (scripts, styles, fonts): cached by a browser after the first
    dom_nodes: int
    error: str = ""
    note: str = ""
    run_over: float = 0.0  # seconds until the script state said notRunning (the rest is the browser drawing)

    @property
    def sent(self) -> int:
        """What the app sent for the click: websocket frames and the HTTP bodies that are not static files."""
        return self.received + self.fetched


def available() -> bool:
    return os.path.exists(CHROMIUM)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def app_server(database_url: str) -> Iterator[str]:
    """`python -m dashboard run` on a free loopback port, until its health check answers; stopped afterwards.

    Its output goes to a temporary file (a pipe nobody reads would fill up and stall the server on a long run),
    and is shown if it does not start.
    """
    port = _free_port()
    command = [sys.executable, "-m", "dashboard", "run", "--server.headless", "true", "--server.port", str(port)]
    command += ["--server.address", "127.0.0.1"]
    env = {**os.environ, "DATABASE_URL": database_url}
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            if not _started(url, process):
                process.terminate()
                process.wait(timeout=30)
                log.seek(0)
                raise RuntimeError(f"the app did not start: {log.read().strip()[-800:]}")
            yield url
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)


def _started(url: str, process: subprocess.Popen, seconds: float = 60) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline and process.poll() is None:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                return True
        except OSError:
            time.sleep(0.25)
    return False


# ─── The journey ────────────────────────────────────────────────────────────────────────────────
def _nav(label: str) -> Action:
    return lambda page: page.get_by_test_id("stSidebarNav").get_by_text(label, exact=True).click()


def _type(label: str, text: str, role: str = "textbox") -> Action:
    return lambda page: page.get_by_role(role, name=label).fill(text)


def _open_select(label: str, option: str) -> Action:
    def act(page) -> None:
        box = page.get_by_role("combobox", name=label)
        box.click()
        box.fill(option)

    return act


def _enter(page) -> None:
    page.keyboard.press("Enter")


def _press_enter_in(label: str, role: str = "textbox") -> Action:
    return lambda page: page.get_by_role(role, name=label).press("Enter")


def _button(label: str) -> Action:
    return lambda page: page.get_by_text(label, exact=True).first.click()


def _first_row(page) -> tuple[float, float]:
    grid = page.get_by_test_id("stDataFrame").first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    return box["x"] + 110, box["y"] + 35 + 17


def _point_at_first_model(page) -> None:
    x, y = _first_row(page)
    page.mouse.move(x - 10, y - 7)  # the pointer gets there first, as a person's does


def _click_first_model(page) -> None:
    page.mouse.click(*_first_row(page))


def _in_editor(page) -> bool:
    return "model_editor" in page.url


def journey(models_page: int) -> list[Step]:
    """The main journeys, in the order a person would click them (after signing in, on Overview)."""
    models = "Models (search, sorts, 200 rows, page 20)"
    usage = "Usage (range x grouping views)"
    big_slot = "Routing preview, image/generation"
    return [
        Step(models, "Models from the menu", _nav("Models")),
        Step(models, "Models, search 'flux'", _press_enter_in("Search"), _type("Search", "flux")),
        Step(models, "Models, sort by name", _enter, _open_select("Sort by", "Name")),
        Step(
            "Model editor open",
            "Model editor, first model's row",
            _click_first_model,
            _point_at_first_model,
            _in_editor,
        ),
        Step(models, "Models from the menu, again", _nav("Models")),
        Step(models, "Models, 200 rows", _enter, _open_select("Rows per page", "200")),
        Step(
            models,
            f"Models, page {models_page}",
            _press_enter_in("Page", "spinbutton"),
            _type("Page", str(models_page), "spinbutton"),
        ),
        Step("Defaults", "Defaults from the menu", _nav("Defaults")),
        Step("Providers", "Providers from the menu", _nav("Providers")),
        Step("Routing, All slots", "Routing from the menu (All slots)", _nav("Routing preview")),
        Step(big_slot, "Routing, modality image", _enter, _open_select("Modality", "image")),
        Step(big_slot, "Routing, task generation", _enter, _open_select("Task", "generation")),
        Step(usage, "Usage from the menu (30d by model)", _nav("Usage")),
        *(Step(usage, f"Usage, {label}", _button(label)) for label in ("24h", "7d", "90d", "All")),
        Step(usage, "Usage, All by provider", _enter, _open_select("Group by", "Provider")),
        Step(usage, "Usage, All by task", _enter, _open_select("Group by", "Task")),
        Step("History", "History from the menu", _nav("History")),
        Step("Import and export", "Import and export from the menu", _nav("Import and export")),
        Step("Sessions", "Sessions from the menu", _nav("Sessions")),
        Step("Overview", "Overview from the menu", _nav("Overview")),
    ]


# ─── Timing ─────────────────────────────────────────────────────────────────────────────────────
class _Traffic:
    """Bytes the page receives: websocket frames as they come, HTTP bodies as transferred (once settled)."""

    def __init__(self, page) -> None:
        self.frames = 0  # websocket: what the app sends for the click
        self.responses: list = []  # HTTP: static files (scripts, fonts) and media the click made the page fetch
        page.on("websocket", self._socket)
        page.on("response", self._response)

    def _socket(self, socket) -> None:
        socket.on("framereceived", self._frame)

    def _response(self, response) -> None:
        self.responses.append(response)

    @staticmethod
    def _is_static(url: str) -> bool:
        path = url.split("?", 1)[0]
        return "/static/" in path or path.endswith((".js", ".css", ".woff", ".woff2", ".svg", ".ico", ".ttf"))

    def _frame(self, payload) -> None:
        self.frames += len(payload)

    def start(self) -> None:
        self.frames, self.responses[:] = 0, []

    def received(self) -> tuple[int, int, int]:
        """(websocket bytes, HTTP body bytes but for static files, static files' bytes) since start()."""
        body = static = 0
        for response in list(self.responses):
            try:  # bytes that came over the network: 0 for what the browser's cache served
                size = max(response.request.sizes()["responseBodySize"], 0)
            except Exception:  # noqa: BLE001 — a redirect or an aborted request has no body to count
                continue
            if self._is_static(response.url):
                static += size
            else:
                body += size
        return self.frames, body, static


def _settle(page, traffic: _Traffic, started_ms: float) -> tuple[float, float]:
    """Seconds from started_ms to the last DOM change, once the click's run is over and the DOM has been quiet;
    and seconds from started_ms until the page said the run was over (the rest is the browser drawing).

    The run has begun when the script state says running or the server has sent a frame (a fast run can be over
    before the state is seen); a click that starts nothing is given START_WAIT_MS.
    """
    deadline = time.time() + START_WAIT_MS / 1000
    while time.time() < deadline and not traffic.frames and not page.locator(RUNNING).count():
        page.wait_for_timeout(20)
    page.wait_for_selector(IDLE, timeout=300_000)
    deadline = time.time() + 60
    last = page.evaluate("window.__benchLast || 0")
    while time.time() < deadline and time.time() * 1000 - last < QUIET_MS:
        page.wait_for_timeout(100)
        last = page.evaluate("window.__benchLast || 0")
    idle = page.evaluate("window.__benchIdle || 0")
    return max(last - started_ms, 0) / 1000, max(idle - started_ms, 0) / 1000


def _dom_nodes(page) -> int:
    return page.evaluate("document.getElementsByTagName('*').length")


def _timed(page, traffic: _Traffic, step: Step) -> Timed:
    timed = _timed_once(page, traffic, step)
    if step.took_effect and not timed.error and not step.took_effect(page):
        timed = _timed_once(page, traffic, step)  # a click the page did not take (a canvas not ready): once more
        timed.note = "second try"
        if not timed.error and not step.took_effect(page):
            timed.error = "the click did not take effect"
    return timed


def _timed_once(page, traffic: _Traffic, step: Step) -> Timed:
    try:
        if step.prepare:
            step.prepare(page)
            page.wait_for_timeout(200)
        traffic.start()
        started = time.time() * 1000
        step.commit(page)
        seconds, run_over = _settle(page, traffic, started)
        shown = page.get_by_test_id("stException")
        error = f"exception on the page: {_first_line(shown.first.inner_text())}" if shown.count() else ""
        return Timed(step, seconds, *traffic.received(), _dom_nodes(page), error, run_over=run_over)
    except Exception as exc:  # noqa: BLE001 — reported in the table, the journey goes on
        return Timed(step, 0.0, *traffic.received(), 0, f"{type(exc).__name__}: {_first_line(str(exc))}")


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:160]


def _sign_in(page, traffic: _Traffic, url: str, email: str, password: str) -> Timed:
    page.goto(url + "/")
    page.wait_for_selector(IDLE, timeout=120_000)
    page.get_by_label("Email").fill(email)
    page.get_by_role("textbox", name="Password").fill(password)
    step = Step(
        "Sign in (a page load)", "Sign in, land on Overview", lambda p: p.get_by_role("button", name="Sign in").click()
    )
    return _timed(page, traffic, step)


def _open_signed_in(page, traffic: _Traffic, url: str) -> Timed:
    """A new tab of the same browser: the session cookie signs it in, static files come from the cache."""
    step = Step("Sign in (a page load)", "Open the app in a new tab, signed in", lambda p: p.goto(url + "/"))
    return _timed(page, traffic, step)


def run_journeys(
    database_url: str, *, email: str, password: str, models_page: int, say: Callable[[str], None]
) -> list[list[Timed]]:
    """The journey twice in one browser: signed in on a fresh server's empty caches, then in a new tab."""
    from playwright.sync_api import sync_playwright

    passes = []
    with app_server(database_url) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 1000})
            context.add_init_script(WATCH_DOM)
            for number in (1, 2):
                page = context.new_page()
                traffic = _Traffic(page)
                if number == 1:
                    timed = [_sign_in(page, traffic, url, email, password)]
                else:
                    timed = [_open_signed_in(page, traffic, url)]
                page.wait_for_timeout(READ_LANDING_MS)
                for step in journey(models_page):
                    timed.append(_timed(page, traffic, step))
                for t in timed:
                    say(f"  pass {number}, {t.step.name}: {describe(t)}")
                passes.append(timed)
                page.close()
        finally:
            browser.close()
    return passes


def describe(t: Timed) -> str:
    if t.error:
        return t.error
    return (
        f"{t.seconds * 1000:,.0f} ms (run over at {t.run_over * 1000:,.0f} ms), "
        f"{t.received / 1024:,.0f} KB over the websocket, "
        f"{t.fetched / 1024:,.0f} KB other HTTP, {t.static / 1024:,.0f} KB static files, "
        f"{t.dom_nodes:,} nodes{f' ({t.note})' if t.note else ''}"
    )
