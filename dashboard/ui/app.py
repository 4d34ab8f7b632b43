"""The dashboard's entrypoint: page config, the database, sign-in, then the pages this person may see.

Served by dashboard/ui/server.py: run `python -m dashboard run` (or `streamlit run dashboard/ui/server.py`).
"""

import runpy
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import sqlalchemy as sa
import streamlit as st

from dashboard.database import DatabaseUnavailable
from dashboard.services.catalogue import CatalogueService
from dashboard.ui import landing_warmup, paths, tab_warmup
from dashboard.ui.context import Context, get_engine, load_settings, set_context, usage_read_engine
from dashboard.ui.feedback import database_down, show_flashes
from dashboard.ui.guards import allow_uploads
from dashboard.ui.session import (
    current_identity,
    effective_identity,
    render_account_box,
    render_cookie_handoff,
    render_sign_in,
)

st.set_page_config(page_title="Model catalogue", page_icon=":material/hub:", layout="wide")

settings = load_settings()
try:
    engine = get_engine(settings.database_url, str(settings.data_dir))
    identity = current_identity(engine, settings)
    version = CatalogueService(engine, user_id=identity.user_id).data_version() if identity else (0, True)
except (DatabaseUnavailable, sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
    database_down(exc)


@dataclass(frozen=True)
class PageSpec:
    path: str  # relative to this file: see dashboard/ui/paths.py
    title: str
    icon: str
    admins_only: bool = False
    params: tuple[str, ...] = ()  # the query parameters the page reads: opening it drops every other one

    @property
    def url_path(self) -> str:
        return PurePosixPath(self.path).stem


# The menu, in order. The first page a person may see is where they land.
PAGES = (
    PageSpec(paths.OVERVIEW, "Overview", ":material/dashboard:", admins_only=True),
    PageSpec(
        paths.MODELS,
        "Models",
        ":material/table_rows:",
        params=("q", "modality", "task", "provider", "status", "default", "sort"),
    ),
    PageSpec(paths.EDITOR, "Model editor", ":material/edit:", admins_only=True, params=("id", "new", "from")),
    PageSpec(paths.DEFAULTS, "Defaults", ":material/star:", params=("slot",)),
    PageSpec(paths.PROVIDERS, "Providers", ":material/cloud:", admins_only=True),
    PageSpec(paths.ROUTING, "Routing preview", ":material/alt_route:", admins_only=True, params=("modality", "task")),
    PageSpec(paths.TRANSFER, "Import and export", ":material/swap_vert:", admins_only=True),
    PageSpec(
        paths.USAGE,
        "Usage",
        ":material/monitoring:",
        admins_only=True,
        params=("range", "from", "to", "provider", "modality", "task", "model", "active", "group"),
    ),
    PageSpec(paths.HEALTH, "Health", ":material/monitor_heart:", admins_only=True, params=("window",)),
    PageSpec(paths.HISTORY, "History", ":material/history:", admins_only=True, params=("table", "model", "person")),
    PageSpec(paths.SESSIONS, "Sessions", ":material/devices:", admins_only=True),
)
STREAMLIT_PARAMS = ("embed", "embed_options")  # Streamlit's own: every page keeps them
_LAST_PAGE = "_dashboard_last_page"
HOME = "home"  # the root's page: opens the first page of the menu (see pages_for)


def pages_for(*, admin: bool, refused: PageSpec | None = None) -> list:
    """The pages a person sees, in menu order; admins get the editing pages too. refused: an admin page a plain
    user's link asked for, registered hidden so that the link finds it and says it is for admins only.

    The app's root is a hidden page of its own that draws the first page a person may see, in place: every page
    then has its own address (/overview, /models) for every role as well. Streamlit serves its default page at the
    root only, so had the Overview or Models been the default, a link to /overview or /models (an admin's link
    opened by a plain user, say) would have said "Page not found". In place, not by switching pages: a switch
    started from the root would lose what the click that led there had set (View as a plain user)."""
    shown = [spec for spec in PAGES if admin or not spec.admins_only]
    pages = [st.Page(s.path, title=s.title, icon=s.icon) for s in shown]
    first = shown[0].path

    def home() -> None:
        runpy.run_path(str(Path(__file__).parent / first), run_name="__main__")

    pages.insert(0, st.Page(home, title=shown[0].title, url_path=HOME, default=True, visibility="hidden"))
    if refused is not None and not admin:
        pages.append(st.Page(refused.path, title=refused.title, icon=refused.icon, visibility="hidden"))
    return pages


def admin_page_requested(*, admin: bool) -> PageSpec | None:
    """The admin page this run's URL asks for (/providers, /usage?...), when the person is not an admin."""
    if admin:
        return None
    try:
        url = st.context.url or ""
    except Exception:  # no browser connection
        return None
    name = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    return next((spec for spec in PAGES if spec.admins_only and spec.url_path == name), None)


def say_admins_only(spec: PageSpec, *, viewing_as_user: bool) -> None:
    """Instead of an admin page a plain user's link asked for: say so, and where to go (its parameters dropped)."""
    st.query_params.clear()
    st.title(spec.title)
    why = (
        "Turn off View as a plain user in the sidebar to open it."
        if viewing_as_user
        else "You are signed in without the admin role; ask an admin if you need it."
    )
    st.warning(f"{spec.title} is for admins only. {why}", icon=":material/lock:")
    st.page_link(paths.MODELS, label="Go to the models", icon=":material/table_rows:")


def keep_page_params(spec: PageSpec) -> None:
    """On opening another page, drop the query parameters it does not read: a page's filters never follow the
    person to another page (Streamlit drops them on a menu click in a browser; this holds for any way in)."""
    last, st.session_state[_LAST_PAGE] = st.session_state.get(_LAST_PAGE), spec.url_path
    if last is None or last == spec.url_path:
        return
    for name in [n for n in st.query_params if n not in spec.params and n not in STREAMLIT_PARAMS]:
        del st.query_params[name]


show_flashes()
if identity is None:
    allow_uploads(False)  # dashboard/ui/guards.py refuses this session's uploads
    # Every page is registered (hidden) so that a deep link such as /models?task=tts survives signing in,
    # but none runs: only the sign-in form does.
    st.navigation(pages_for(admin=True), position="hidden")
    landing_warmup.at_first_page(engine, usage_read_engine(settings))  # read while the person types
    render_sign_in(engine)
    st.stop()

render_account_box(identity)
acting = effective_identity(identity)  # an admin may view the pages as a plain user
allow_uploads(acting.is_admin)  # only admins' sessions may upload (the Import page), checked by guards.py
if acting.is_admin:  # they land on the Overview: the tab makes the tables and charts ready meanwhile
    tab_warmup.render()
render_cookie_handoff()  # just signed in: the browser gets the session cookie in the background
set_context(Context(engine=engine, identity=acting, data_version=version, settings=settings))
refused = admin_page_requested(admin=acting.is_admin)
menu = pages_for(admin=acting.is_admin, refused=refused)
page = st.navigation({"Catalogue": menu})
if refused is not None:  # a plain user's link to an admin page: say so rather than land elsewhere silently
    say_admins_only(refused, viewing_as_user=identity.is_admin)
    st.stop()
keep_page_params(next(spec for spec in PAGES if spec.title == page.title))  # the root: the first page's title
try:
    page.run()
except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
    database_down(exc)
