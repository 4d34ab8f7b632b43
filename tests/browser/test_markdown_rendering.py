"""What Streamlit's markdown really makes of md_escape()'s output, in a real Chromium: the only reliable check
that no hostile text becomes a link, an autolink, an image, HTML or a heading (remark-gfm autolinks after
escapes are resolved, which no test of the markdown source alone can see)."""

from __future__ import annotations

import os
import sys

import pytest

from dashboard.text import md_escape, visible
from tests import hostile
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, require_chromium, serving, wait_idle
from tests.conftest import REPO

pytestmark = pytest.mark.browser
CASES = (*hostile.MARKDOWN, *hostile.HIDDEN, hostile.FORMULA, hostile.CR_FORMULA, "Signed in as admin@example.com")
SCRIPT = """
import streamlit as st
from dashboard.text import md_escape

for i, text in enumerate({cases!r}):
    with st.container(key=f"case_{{i}}"):
        st.markdown(md_escape(text))
        st.error(md_escape(text), icon=":material/error:")
        st.caption(md_escape(text))
        st.expander(md_escape(text)).text("inside")
"""


@pytest.fixture
def page(tmp_path):
    require_chromium()
    from playwright.sync_api import sync_playwright

    script = tmp_path / "cases.py"
    script.write_text(SCRIPT.format(cases=CASES), encoding="utf-8")

    def command(port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(script),
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
        ]

    with serving(command, {**os.environ, "PYTHONPATH": str(REPO)}) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(url)
        wait_idle(page)
        yield page
        browser.close()


def test_escaped_text_renders_as_exactly_that_text(page):
    for i, text in enumerate(CASES):
        case = page.locator(f".st-key-case_{i}")
        case.wait_for()
        rendered = case.locator('[data-testid="stMarkdownContainer"], [data-testid="stCaptionContainer"]')
        assert rendered.count() == 4, text  # markdown, alert, caption, expander label
        made = case.evaluate(
            "e => [...e.querySelectorAll('a, img, h1, h2, h3, h4, h5, h6, code, pre, script')].map(x => x.outerHTML)"
        )
        assert made == [], f"{text!r} became {made}"
        for j in range(4):
            shown = rendered.nth(j).inner_text().replace(hostile.WORD_JOINER, "").strip()
            assert shown == visible(text).strip(), (text, md_escape(text))
