"""Database text made safe for places that interpret it (Streamlit markdown, Plotly hover labels)."""

from __future__ import annotations

import html
import re

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:@])")


def md_escape(text: object) -> str:
    """Text shown literally by st.markdown, st.error and friends: no links, images, HTML or emphasis."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text)).replace("\n", "  \n")


def html_escape(text: object) -> str:
    """Text shown literally where Plotly renders HTML (trace names, hover text)."""
    return html.escape(str(text), quote=True)
