"""The dashboard's entrypoint: page config, the database, sign-in, then the pages this person may see.

Served by dashboard/ui/server.py: run `python -m dashboard run` (or `streamlit run dashboard/ui/server.py`).
"""

import sys
from pathlib import Path

# `streamlit run dashboard/ui/app.py` puts only this folder on sys.path; the package lives two levels up.
_REPO = str(Path(__file__).resolve().parents[2])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

import sqlalchemy as sa  # noqa: E402
import streamlit as st  # noqa: E402

from dashboard.database import DatabaseUnavailable  # noqa: E402
from dashboard.services.catalogue import CatalogueService  # noqa: E402
from dashboard.ui import paths  # noqa: E402
from dashboard.ui.context import Context, get_engine, load_settings, set_context  # noqa: E402
from dashboard.ui.feedback import database_down, show_flashes  # noqa: E402
from dashboard.ui.guards import allow_uploads  # noqa: E402
from dashboard.ui.session import (  # noqa: E402
    current_identity,
    effective_identity,
    render_account_box,
    render_sign_in,
)

st.set_page_config(page_title="Model catalogue", page_icon=":material/hub:", layout="wide")

settings = load_settings()
try:
    engine = get_engine(settings.database_url, str(settings.data_dir))
    identity = current_identity(engine, settings)
    version = CatalogueService(engine, user_id=identity.user_id).data_version() if identity else 0
except (DatabaseUnavailable, sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
    database_down(exc)


def pages_for(*, admin: bool) -> list:
    """The pages a person sees, in menu order; admins get the editing pages too."""
    pages = [
        st.Page(paths.MODELS, title="Models", icon=":material/table_rows:", default=not admin),
        st.Page(paths.DEFAULTS, title="Defaults", icon=":material/star:"),
    ]
    if admin:
        pages.insert(0, st.Page(paths.OVERVIEW, title="Overview", icon=":material/dashboard:", default=True))
        pages.insert(2, st.Page(paths.EDITOR, title="Model editor", icon=":material/edit:"))
        pages.append(st.Page(paths.PROVIDERS, title="Providers", icon=":material/cloud:"))
        pages.append(st.Page(paths.ROUTING, title="Routing preview", icon=":material/alt_route:"))
        pages.append(st.Page(paths.TRANSFER, title="Import and export", icon=":material/swap_vert:"))
        pages.append(st.Page(paths.USAGE, title="Usage", icon=":material/monitoring:"))
        pages.append(st.Page(paths.HISTORY, title="History", icon=":material/history:"))
    return pages


show_flashes()
if identity is None:
    allow_uploads(False)  # dashboard/ui/guards.py refuses this session's uploads
    # Every page is registered (hidden) so that a deep link such as /models?task=tts survives signing in,
    # but none runs: only the sign-in form does.
    st.navigation(pages_for(admin=True), position="hidden")
    render_sign_in(engine)
    st.stop()

render_account_box(identity)
acting = effective_identity(identity)  # an admin may view the pages as a plain user
allow_uploads(acting.is_admin)  # only admins' sessions may upload (the Import page), checked by guards.py
set_context(Context(engine=engine, identity=acting, data_version=version, settings=settings))
try:
    st.navigation({"Catalogue": pages_for(admin=acting.is_admin)}).run()
except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
    database_down(exc)
