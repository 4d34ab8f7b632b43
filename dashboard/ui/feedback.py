"""Messages for people: named errors turned into what to do, and notices that survive a rerun."""

from __future__ import annotations

from typing import Literal

import streamlit as st

from dashboard.database import DatabaseUnavailable
from dashboard.services.errors import InvalidModel, ModelNotFound, NotAllowed, ProviderNotFound, ServiceError
from dashboard.text import md_escape

_FLASH_KEY = "_dashboard_flash"
# An explicit icon on every alert: without one Streamlit turns a leading emoji of the text (a model called
# "🚀 Rocket") into the alert's icon, and the name loses it.
ICONS = {
    "success": ":material/check_circle:",
    "info": ":material/info:",
    "warning": ":material/warning:",
    "error": ":material/error:",
}
Kind = Literal["success", "info", "warning", "error"]


def flash(message: str, kind: Kind = "success") -> None:
    """Show message at the top of the next run (after st.rerun or st.switch_page)."""
    st.session_state.setdefault(_FLASH_KEY, []).append((kind, message))


def show_flashes() -> None:
    for kind, message in st.session_state.pop(_FLASH_KEY, []):
        getattr(st, kind)(md_escape(message), icon=ICONS[kind])


def describe_error(exc: ServiceError) -> str:
    """A sentence that says what happened and what to do."""
    if isinstance(exc, InvalidModel):
        return "Please fix: " + "; ".join(f"{field} {problem}" for field, problem in exc.problems.items())
    if isinstance(exc, NotAllowed):
        return f"{exc}. Your role may have changed: ask an admin if you need this."
    if isinstance(exc, ModelNotFound | ProviderNotFound):
        return f"{exc}. Go back to the list and pick it again."
    return str(exc)


def show_error(exc: ServiceError) -> None:
    # Messages quote what people typed and what the database holds: shown literally, never as markdown.
    st.error(md_escape(describe_error(exc)), icon=ICONS["error"])


def database_down(exc: Exception) -> None:
    """A banner with a retry instead of a traceback; what the person typed stays in their session."""
    detail = str(exc) if isinstance(exc, DatabaseUnavailable) else "The connection was lost."
    st.error(md_escape(f"The database cannot be reached right now. {detail}"), icon=ICONS["error"])
    st.caption("Nothing you typed is lost: press Retry once the database is back.")
    st.button("Retry", type="primary", key="retry_database")
    st.stop()
