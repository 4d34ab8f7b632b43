"""The URL's query parameters as page state: read them as untrusted input, write back what the page shows."""

from __future__ import annotations

from collections.abc import Collection, Mapping

import streamlit as st

from dashboard.text import md_escape, visible


def url_param(name: str, allowed: Collection[str] | None = None, default: str = "") -> str:
    """A query parameter, or default when absent or not one of the allowed values (URLs are input too); a value
    ignored is said once, so that a person whose link was mangled knows why the page does not show it."""
    if name not in st.query_params:
        return default
    value = st.query_params.get(name)
    value = value if isinstance(value, str) else default
    if allowed is not None and value not in allowed:
        if value:
            note_ignored(name, value)
        return default
    return value


def note_ignored(name: str, value: str) -> None:
    """Say once per session that the link's name=value was not understood and was left out."""
    noted = st.session_state.setdefault("_ignored_params", set())
    if (name, value) in noted or len(noted) > 50:
        return
    noted.add((name, value))
    shown = visible(value[:40] + ("…" if len(value) > 40 else ""))
    message = f"The link's {name}={shown} is not something this page knows, so it was left out."
    st.toast(md_escape(message), icon=":material/link_off:")


def init_state(key: str, value: object) -> None:
    """A widget's first value (often read from the URL); later runs keep what the person chose."""
    if key not in st.session_state:
        st.session_state[key] = value


def sync_url(wanted: Mapping[str, str]) -> None:
    """Make the URL show these parameters: set the non-empty ones that differ, drop the empty ones."""
    for key, value in wanted.items():
        if value and st.query_params.get(key) != value:
            st.query_params[key] = value
        elif not value and key in st.query_params:
            del st.query_params[key]
