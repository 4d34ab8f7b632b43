"""A real app server and a real headless Chromium (Debian's, driven by Playwright).

The server is `python -m dashboard run` itself, on a database of the test's own, so what is tested is
what a person starts. Skipped, with the reason, when no Chromium is installed (.ci/run installs it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from dashboard.demo import seed_demo
from tests.conftest import REPO

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    passwords: dict[str, str]


def require_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        message = "no Chromium here: install Debian's chromium package (bash .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it: a missing browser must not pass as a skip
        pytest.skip(message)


def dashboard_run(port: int) -> list[str]:
    """What a person starts, on this port and loopback only."""
    return [
        sys.executable,
        "-m",
        "dashboard",
        "run",
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
    ]


@contextmanager
def serving(command: Callable[[int], list[str]], env: dict[str, str]) -> Iterator[str]:
    """Start command(port) from the repository, wait until its health check answers, yield its URL, stop it."""
    port = _free_port()
    process = subprocess.Popen(
        command(port), cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.25)
        else:
            raise RuntimeError(f"the app did not start: {process.stdout.read() if process.stdout else ''}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture
def app_server(db_url: str, engine) -> Iterator[Server]:
    require_chromium()
    demo = seed_demo(engine, jobs=500, bcrypt_rounds=4)
    with serving(dashboard_run, {**os.environ, "DATABASE_URL": db_url}) as url:
        yield Server(url, demo.passwords)


@contextlib.contextmanager
def chromium_page(screenshot: Path, **context_options):
    """A page of a fresh headless Chromium; a full-page screenshot is left at screenshot when it closes."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(accept_downloads=True, **context_options).new_page()
        try:
            yield page
        finally:
            page.screenshot(path=str(screenshot), full_page=True)
            browser.close()


@pytest.fixture
def browser_page(app_server: Server, tmp_path):
    with chromium_page(tmp_path / "last.png", viewport={"width": 1440, "height": 1000}) as page:
        yield page


def wait_idle(page) -> None:
    """Until Streamlit has finished the run a click started."""
    page.wait_for_timeout(300)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=30_000)
    page.wait_for_timeout(200)


def sign_in(page, server: Server, email: str, path: str = "/") -> None:
    page.goto(server.url + path)
    wait_idle(page)
    page.get_by_label("Email").fill(email)
    page.get_by_role("textbox", name="Password").fill(server.passwords[email])
    page.get_by_role("button", name="Sign in").click()
    wait_idle(page)


def click_first_row(page) -> None:
    """Select the first row of the (canvas-drawn) table by clicking its row-selection cell."""
    grid = page.get_by_test_id("stDataFrame").first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 16, box["y"] + 35 + 17)
    wait_idle(page)


def go_to(page, label: str) -> None:
    """Follow a sidebar link in the same Streamlit session (a reload keeps the sign-in, not the page's state)."""
    page.get_by_test_id("stSidebarNav").get_by_text(label, exact=True).click()
    wait_idle(page)
