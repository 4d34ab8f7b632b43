"""AppTest fixtures: the real app.py on a real database of the test's own, signed in as someone."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from uuid import UUID

import pytest
import sqlalchemy as sa
import streamlit as st
import streamlit.testing.v1.app_test as app_test_module
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from dashboard.demo import seed_demo
from tests.conftest import REPO
from tests.hostile import read

APP = str(REPO / "dashboard" / "ui" / "app.py")


@pytest.fixture(autouse=True)
def _fresh_streamlit_caches() -> Iterator[None]:
    """st.cache_data and st.cache_resource live in the process: never let one test see another's."""
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def demo_db(db_url: str, engine, monkeypatch: pytest.MonkeyPatch) -> str:
    """A database with the demo catalogue and a few hundred jobs; DATABASE_URL points at it."""
    seed_demo(engine, jobs=300, bcrypt_rounds=4)
    monkeypatch.setenv("DATABASE_URL", db_url)
    return db_url


@pytest.fixture
def empty_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated database with nothing in it; DATABASE_URL points at it."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    return db_url


def user_id(engine, email: str) -> UUID:
    with engine.connect() as conn:
        return conn.execute(sa.text("select id from auth.users where email = :e"), {"e": email}).scalar_one()


@pytest.fixture
def signed_in(engine) -> Callable[..., AppTest]:
    """signed_in("admin@example.com", page="pages/models.py"): an AppTest already signed in and run."""

    def make(email: str | None = "admin@example.com", page: str | None = None, **query: str) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=30)
        if email:
            at.session_state["_dashboard_user_id"] = user_id(engine, email)
            at.session_state["_dashboard_last_seen"] = time.time()
        at.query_params.update(query)
        at.run()
        if page:
            at.switch_page(f"../../{page}").run()  # pages/ is two levels up from the entrypoint
        return at

    return make


def open_history(at: AppTest, engine, key: str = "history") -> AppTest:
    """Every history entry opened, as clicking each one's header does: an entry's changes and its restore are drawn
    only once it is open (key: "history" on the History page, "editor" in the Model editor)."""
    with engine.connect() as conn:
        for entry in conn.execute(sa.text("select id from dashboard.audit_log")).scalars():
            at.session_state[f"open_{key}_{entry}"] = True
    return at.run()


def texts(at: AppTest) -> str:
    """Everything the page says, for assertions on messages."""
    parts = [
        e.value
        for kind in ("title", "header", "subheader", "markdown", "caption", "info", "success", "warning", "error")
        for e in getattr(at, kind)
    ]
    # The app escapes markdown in everything it shows from the database; read it as a person would.
    return read("\n".join(str(p) for p in parts))


@pytest.fixture
def downloads(monkeypatch) -> list[MediaFileManager]:
    """The media managers of every AppTest run, so a test can read what each download button would serve."""
    managers: list[MediaFileManager] = []

    class Recording(MediaFileManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            managers.append(self)

    monkeypatch.setattr(app_test_module, "MediaFileManager", Recording)
    return managers
