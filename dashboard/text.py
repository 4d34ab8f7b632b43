"""Database text made safe to show: in Streamlit markdown, in plain-text widgets and tables, on a terminal.

Text from the database is hostile: other code writes rows that never went through our validation. It can
hold markdown, HTML, links, terminal escapes, and characters that reorder or hide text (U+202E RIGHT-TO-LEFT
OVERRIDE turns a line around, zero-width characters make look-alike names). visible() writes those as
escapes (\\u202e, \\x1b); md_escape() adds what Streamlit's markdown needs on top. Validation refuses the same
characters on input (first_hidden()).
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

# Not text anyone can see: controls (C0, DEL, C1), format characters (bidi embeddings, overrides, isolates and
# marks, zero-width space/joiners, word joiner, BOM, tag characters) and the Unicode line/paragraph separators.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_NAMES = {"\x00": "NUL", "\t": "tab", "\n": "line break", "\r": "carriage return", "\x1b": "escape", "\x7f": "delete"}
# Every ASCII punctuation character: CommonMark lets each be backslash-escaped, so none can start markdown.
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
# Streamlit's markdown (remark-gfm) turns http://, www. and e@mail text into links after escapes are resolved,
# and remark-emoji turns :name: into emoji: an (invisible) word joiner between ':' or '@' and what follows, and
# inside "www.", breaks those patterns. "Saved: 3" keeps its plain colon.
WORD_JOINER = "\u2060"
_LINK_PATTERNS = re.compile(r"(?<=[:@])(?=[\w+\-/])|(?i:(?<=www)(?=\.))")


def is_hidden(char: str) -> bool:
    """A control or invisible formatting character (the kind that hides, reorders or breaks text)."""
    return unicodedata.category(char) in _HIDDEN_CATEGORIES


def first_hidden(text: str, allow: str = "") -> str | None:
    """The first hidden character of text that allow does not list, or None."""
    if text.isprintable():  # the common case, in C
        return None
    return next((c for c in text if c not in allow and is_hidden(c)), None)


def escaped(char: str) -> str:
    """One character as an escape a person can read: \\n, \\x1b, \\u202e, \\U000e0041."""
    code = ord(char)
    if char in _SHORT:
        return _SHORT[char]
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def describe_character(char: str) -> str:
    """A hidden character for a message: its escape and its name, e.g. \\u202e (right-to-left override)."""
    name = _NAMES.get(char) or unicodedata.name(char, "control character").lower()
    return f"{escaped(char)} ({name})"


def visible(text: object) -> str:
    """Text with every hidden character written as its escape, so nothing hides, reorders or controls the screen."""
    text = "" if text is None else str(text)
    if text.isprintable():
        return text
    return "".join(escaped(c) if is_hidden(c) else c for c in text)


def terminal_lines(text: str) -> str:
    """Text for a terminal that keeps its line breaks (\\n or \\r\\n) but shows every other hidden character."""
    return "\n".join(visible(line) for line in re.split(r"\r?\n", text))


def md_escape(text: object) -> str:
    """Text shown literally by st.markdown, st.error and friends: no links, autolinks, images, HTML, headings,
    emphasis or emoji shortcodes; hidden characters shown as escapes. Use it for everything from the database."""
    return _PUNCTUATION.sub(r"\\\1", _LINK_PATTERNS.sub(WORD_JOINER, visible(text)))


def visible_json(value: Any) -> Any:
    """A JSON value for st.json with every key and string through visible()."""
    if isinstance(value, dict):
        return {visible(k): visible_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [visible_json(v) for v in value]
    return visible(value) if isinstance(value, str) else value


def visible_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of frame for st.dataframe with every text cell through visible() (exports keep the data as it is)."""
    from pandas.api.types import is_string_dtype

    shown = frame.copy()
    for column in shown.columns:
        if shown[column].dtype == object or is_string_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: visible(v) if isinstance(v, str) else v)
    return shown


def json_visible(document: str) -> str:
    """JSON text with every hidden character inside its strings written as a \\u escape: the same data, safe to
    print or view (json.dumps escapes only C0 controls). JSON's own syntax is ASCII, so only strings change."""
    if document.isprintable():
        return document
    out = []
    for char in document:
        if char not in "\n" and is_hidden(char):
            code = ord(char)
            if code >= 0x10000:  # JSON spells astral characters as a surrogate pair
                code -= 0x10000
                out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
            else:
                out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)
