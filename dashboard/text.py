"""Database text made safe for places that interpret it (Streamlit markdown)."""

from __future__ import annotations

import re

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:@])")


def md_escape(text: object) -> str:
    """Text shown literally by st.markdown, st.error and friends: no links, images, HTML or emphasis."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text)).replace("\n", "  \n")
