"""The dashboard's entrypoint: page config, the database, sign-in, then the pages this person may see.

Run it with `python -m dashboard run` (or `streamlit run app.py`).
"""

import sqlalchemy as sa
import streamlit as st

from dashboard.database import DatabaseUnavailable
from dashboard.services.catalogue import CatalogueService
from dashboard.ui.context import Context, get_engine, load_settings, set_context
from dashboard.ui.feedback import database_down, show_flashes
from dashboard.ui.session import current_identity, render_account_box, render_sign_in

st.set_page_config(page_title="Model catalogue", page_icon=":material/hub:", layout="wide")

settings = load_settings()
try:
    engine = get_engine(settings.database_url, str(settings.data_dir))
    identity = current_identity(engine, settings)
    version = CatalogueService(engine, user_id=identity.user_id).data_version() if identity else 0
except (DatabaseUnavailable, sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
    database_down(exc)

show_flashes()
if identity is None:
    render_sign_in(engine)
    st.stop()

set_context(Context(engine=engine, identity=identity, data_version=version, settings=settings))
render_account_box(identity)

catalogue = [
    st.Page("pages/models.py", title="Models", icon=":material/table_rows:", default=not identity.is_admin),
    st.Page("pages/defaults.py", title="Defaults", icon=":material/star:"),
]
if identity.is_admin:
    catalogue.insert(0, st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True))
    catalogue.insert(2, st.Page("pages/model_editor.py", title="Model editor", icon=":material/edit:"))
    catalogue.append(st.Page("pages/providers.py", title="Providers", icon=":material/cloud:"))

try:
    st.navigation({"Catalogue": catalogue}).run()
except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
    database_down(exc)
