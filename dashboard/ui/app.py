"""The dashboard's entrypoint: page config, the database, sign-in, then the pages this person may see.

Served by dashboard/ui/server.py: run `python -m dashboard run` (or `streamlit run dashboard/ui/server.py`).
"""

from dataclasses import dataclass

import sqlalchemy as sa
import streamlit as st

from dashboard.database import DatabaseUnavailable
from dashboard.services.catalogue import CatalogueService
from dashboard.ui import paths
from dashboard.ui.context import Context, get_engine, load_settings, set_context
from dashboard.ui.feedback import database_down, show_flashes
from dashboard.ui.guards import allow_uploads
from dashboard.ui.session import (
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


@dataclass(frozen=True)
class PageSpec:
    path: str  # relative to this file: see dashboard/ui/paths.py
    title: str
    icon: str
    admins_only: bool = False


# The menu, in order. The first page a person may see is where they land.
PAGES = (
    PageSpec(paths.OVERVIEW, "Overview", ":material/dashboard:", admins_only=True),
    PageSpec(paths.MODELS, "Models", ":material/table_rows:"),
    PageSpec(paths.EDITOR, "Model editor", ":material/edit:", admins_only=True),
    PageSpec(paths.DEFAULTS, "Defaults", ":material/star:"),
    PageSpec(paths.PROVIDERS, "Providers", ":material/cloud:", admins_only=True),
    PageSpec(paths.ROUTING, "Routing preview", ":material/alt_route:", admins_only=True),
    PageSpec(paths.TRANSFER, "Import and export", ":material/swap_vert:", admins_only=True),
    PageSpec(paths.USAGE, "Usage", ":material/monitoring:", admins_only=True),
    PageSpec(paths.HISTORY, "History", ":material/history:", admins_only=True),
    PageSpec(paths.SESSIONS, "Sessions", ":material/devices:", admins_only=True),
)


def pages_for(*, admin: bool) -> list:
    """The pages a person sees, in menu order; admins get the editing pages too."""
    shown = [spec for spec in PAGES if admin or not spec.admins_only]
    return [st.Page(s.path, title=s.title, icon=s.icon, default=n == 0) for n, s in enumerate(shown)]


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
