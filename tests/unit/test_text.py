"""Database text made safe to show: md_escape for Streamlit markdown, visible for plain text and terminals."""

import json
import re

import pandas as pd
import pytest

from dashboard.text import first_hidden, json_visible, md_escape, terminal_lines, visible, visible_frame, visible_json
from tests import hostile


@pytest.mark.parametrize("text", [*hostile.STORABLE, hostile.NUL, "Signed in as admin@example.com", "Saved: x"])
def test_md_escape_leaves_nothing_for_markdown_to_interpret(text):
    assert hostile.markdown_problems(md_escape(text)) == []
    assert hostile.read(md_escape(text)) == visible(text)  # and a person reads the text itself


@pytest.mark.parametrize(
    ("text", "links"),
    [
        (hostile.URL, "http://evil.example"),
        (hostile.WWW, "www.evil.example"),
        (hostile.EMAIL, "a@evil.example"),
        ("see HTTPS://EVIL.example or WWW.evil.example", "HTTPS://EVIL.example"),
        (":rocket:", ":rocket:"),
    ],
)
def test_autolinks_and_shortcodes_are_broken_even_though_escapes_are_resolved(text, links):
    # Backslashes alone (the old escaping) are not enough: remark-gfm links the text after resolving escapes.
    backslashed = re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", text)
    assert any(links in p for p in hostile.markdown_problems(backslashed))
    assert hostile.markdown_problems(md_escape(text)) == []


def test_a_plain_colon_or_at_sign_gets_no_joiner():
    assert md_escape("Imported: 3 new") == "Imported\\: 3 new"
    assert md_escape("a @ b") == "a \\@ b"


@pytest.mark.parametrize(
    "char",
    [*hostile.BIDI, *hostile.INVISIBLE, "\x00", "\x1b", "\r", "\n", "\t", "\x85", "\x9b", "\u2028", "\U000e0041"],
)
def test_visible_writes_every_hidden_character_as_an_escape(char):
    shown = visible(f"a{char}b")
    assert first_hidden(shown) is None and hostile.hidden_in(shown) is None
    assert shown.startswith("a\\") and shown.endswith("b")


def test_visible_leaves_ordinary_text_alone():
    for text in ("SDXL 1.0", "Ṩ̷̛ẞ 🤖 مرحبا", "日本語", "a\\u202e literally", ""):
        assert visible(text) == text
    assert visible(None) == ""


def test_names_for_the_common_ones():
    assert visible(hostile.RLO) == "model\\u202egnp.exe"
    assert visible(hostile.ESCAPE) == "ok\\x1b[2K\\rall good"
    assert visible("\U000e0041") == "\\U000e0041"


def test_terminal_lines_keep_line_breaks_only():
    assert terminal_lines("a\x1b[2K\r\nb\rc\n") == "a\\x1b[2K\nb\\rc\n"


def test_json_visible_is_the_same_data_with_nothing_hidden():
    value = {"k\u202e": ["\x85", "\U000e0041", "tab\t", hostile.ZERO_WIDTH], "plain": "é"}
    document = json_visible(json.dumps(value, ensure_ascii=False, indent=2))
    assert json.loads(document) == value
    assert hostile.hidden_in(document, allow="\n") is None and "é" in document


def test_visible_json_and_frames_for_display():
    assert visible_json({"a\u202e": [hostile.ESCAPE, 1, None]}) == {"a\\u202e": ["ok\\x1b[2K\\rall good", 1, None]}
    frame = pd.DataFrame({"name": [hostile.RLO, "ok"], "n": [1, 2], "o": [None, hostile.ZERO_WIDTH]})
    shown = visible_frame(frame)
    assert list(shown["name"]) == ["model\\u202egnp.exe", "ok"] and list(shown["n"]) == [1, 2]
    assert shown["o"][1] == "SDXL\\u200b 1.0" and frame["name"][0] == hostile.RLO  # the data itself is untouched
