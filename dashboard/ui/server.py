"""The web server: dashboard/ui/app.py served by Streamlit behind the guards of dashboard/ui/guards.py.

`python -m dashboard run` serves this file, and so should production: `streamlit run dashboard/ui/server.py`
finds the `app` below and serves it with Streamlit's own Starlette server, with every `streamlit run` option.
Serving app.py directly works too, but without the guards (any visitor could then fill the server's memory
with uploads or clear every cache) and without the session cookie routes (a reload then signs the person
out). Tests that drive app.py with AppTest need neither.
"""

from contextlib import asynccontextmanager
from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware

from dashboard.ui import landing_warmup, memory
from dashboard.ui.auth_routes import BrowserCookie, routes
from dashboard.ui.guards import DropClearCache, UploadGuard

memory.settle()  # the collector set for a process that keeps large reads (dashboard/ui/memory.py)
landing_warmup.ENABLED = True  # while an admin reads the Overview, the server reads what comes next


@asynccontextmanager
async def _lifespan(_app):
    landing_warmup.at_server_start()  # a backlog of usage deltas is folding before the first visitor signs in
    yield None


app = st.App(
    Path(__file__).with_name("app.py"),
    lifespan=_lifespan,
    routes=routes(),  # /auth/session and /auth/signed-out: the session cookie (dashboard/ui/auth_routes.py)
    middleware=[Middleware(BrowserCookie), Middleware(UploadGuard), Middleware(DropClearCache)],
)
