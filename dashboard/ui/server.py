"""The web server: dashboard/ui/app.py served by Streamlit behind the guards of dashboard/ui/guards.py.

`python -m dashboard run` serves this file, and so should production: `streamlit run dashboard/ui/server.py`
finds the `app` below and serves it with Streamlit's own Starlette server, with every `streamlit run` option.
Serving app.py directly works too, but without the guards: any visitor could then fill the server's memory
with uploads or clear every cache. Tests that drive app.py with AppTest need neither.
"""

import sys
from pathlib import Path

# `streamlit run dashboard/ui/server.py` puts only this folder on sys.path; the package lives two levels up.
_REPO = str(Path(__file__).resolve().parents[2])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

import streamlit as st  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

from dashboard.ui.guards import DropClearCache, UploadGuard  # noqa: E402

app = st.App(Path(__file__).with_name("app.py"), middleware=[Middleware(UploadGuard), Middleware(DropClearCache)])
