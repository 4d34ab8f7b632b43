"""Hostile input, in one place: strings that attack markdown, spreadsheets, terminals and readers' eyes, and the
checks that what we show or export of them is inert. Every test that needs hostile text takes it from here.

On a live project other code writes rows that never went through our validation, so tests put these strings in
the database directly (tests/factories.py) as well as through the app.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata

# The checks below are written independently of dashboard.text and dashboard.export, so that they judge those.
WORD_JOINER = "\u2060"  # what md_escape may add to break autolinks: invisible, and nothing else is allowed

# ─── Markdown and HTML ──────────────────────────────────────────────────────────────────────────
LINK = "[click me](https://evil.example/phish)"
IMAGE = "![pixel](https://evil.example/pixel.png)"
# Blank lines end the paragraph (and any code span around the text): what follows starts block markdown.
BLOCKS = "key`\n\n# Heading\n\n[link](https://evil.example)\n\n![img](https://evil.example/i.png)\n\n`"
HTML = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(1)</script>"
URL = "http://evil.example/login"
WWW = "www.evil.example"
EMAIL = "a@evil.example"
EMOJI = ":rocket: :material/delete: :red[red]"
MARKDOWN = (LINK, IMAGE, BLOCKS, HTML, SCRIPT, URL, WWW, EMAIL, EMOJI)

# ─── Spreadsheet formulas (OWASP CSV injection) ─────────────────────────────────────────────────────
FORMULA = "=1+1"
SPACED_FORMULA = "  =1+1"
CR_FORMULA = "Plain name\r=1+1"
LF_FORMULA = "\n@SUM(A1)"
TAB_FORMULA = "\t=cmd"
PLUS, MINUS, AT = "+1+1", "-1+1", "@SUM(A1)"
HYPERLINK = '=HYPERLINK("http://evil.example","x")'
QUOTED_FORMULA = "'=1+1"  # already starts with the guard's apostrophe: must come back as itself
FORMULAS = (FORMULA, SPACED_FORMULA, CR_FORMULA, LF_FORMULA, TAB_FORMULA, PLUS, MINUS, AT, HYPERLINK, QUOTED_FORMULA)

# ─── Terminals and what the eye sees ──────────────────────────────────────────────────────────────
ESCAPE = "ok\x1b[2K\rall good"  # clears the line and rewrites it on a terminal
CARRIAGE_RETURN = "hidden\rshown"
RLO = "model\u202egnp.exe"  # right-to-left override: shows as "modelexe.png"
ZERO_WIDTH = "SDXL\u200b 1.0"  # looks like SDXL 1.0
BIDI = ("\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u200e", "\u200f")
INVISIBLE = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")
C1 = "\x85\x9b"  # next line, and the one-byte control sequence introducer
HIDDEN = (ESCAPE, CARRIAGE_RETURN, RLO, ZERO_WIDTH, "tab\there", "line\nbreak", C1, *BIDI, *INVISIBLE)

NUL = "nul\x00byte"  # PostgreSQL text cannot hold NUL: refused before the database, never stored
LONG = "x" * 10_000

# Everything PostgreSQL text can hold, for rows written directly in SQL.
STORABLE = (*MARKDOWN, *FORMULAS, *HIDDEN, LONG)

# ─── Stored text, identities and JSON: what other code may write, or a person may type ──────────────
SQL = "'; drop table api_models; --"
SCRIPTS = "Ṩ̷̛ẞ 🤖 مرحبا"  # combining marks, an emoji and right-to-left script: stored and shown as they are
# Names and other free text: stored literally, harmless wherever they are shown.
TEXT = (SQL, SCRIPT, f"{LINK} {IMAGE}", f"{LINK} {HTML}", HYPERLINK, SCRIPTS)
# Emails (and anything typed where an email goes): each is just a failed sign-in or a clear refusal.
EMAILS = (
    "a" * 100_000,
    "ada@example.com\x00",
    "\x00",
    "' or 1=1 --",
    "' or '1'='1",
    "'; drop table auth.users; --",
    "%",
    "_da@example.com",
    "ada@example.com\nbob@example.com",
    "\u202eada@example.com",  # right-to-left override
    "ＡＤＡ@ｅｘａｍｐｌｅ.ｃｏｍ",  # fullwidth
    "a\u0301da@example.com",  # combining accent
    "\ud800@example.com",  # a lone surrogate
    "ada@example.com" + " " * 300 + "x",
    "😀" * 300,
    "",
    " ",
)
# JSON objects whose keys and values attack paths, prototypes, precision and depth.
JSON_OBJECT = {
    "": "empty key",
    "a.b": "a dotted key",
    "key with spaces": [1, {"nested": None}],
    "ключ": "значение",
    "$ref": "#/x",
    "__proto__": {"polluted": True},
    "multi\nline": "value\nwith\nlines",
    "big": 2**53 + 1,
    "deep": {"1": {"2": {"3": {"4": {"5": {"6": {"7": {"8": {"9": {"10": "bottom"}}}}}}}}}},
}

# ─── Query-string values: what a crafted or mangled link can hold ───────────────────────────────
URL_VALUES = (
    "",
    "0",
    "-1",
    "1e309",
    "NaN",
    "99999999999999999999",
    "0001-01-01",
    "9999-12-31",
    "2026-02-30",
    "00000000-0000-0000-0000-000000000000",
    "not-a-uuid",
    "' or '1'='1",
    "%00",
    "../../etc/passwd",
    "image/generation",
    "All",
    NUL,
    RLO,
    ESCAPE,
    LINK,
    HTML,
    "🤖",
    "x" * 3000,
)


def hidden_in(text: str, allow: str = "") -> str | None:
    """The first control or invisible formatting character in text (Unicode Cc, Cf, Zl, Zp), or None."""
    return next((c for c in text if c not in allow and unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")), None)


# ─── Markdown: the source Streamlit gets renders as text ──────────────────────────────────────────────
# remark-gfm's literal autolinks as Streamlit 1.67's bundle has them (run on text after escapes are resolved),
# with Python's ASCII \w as in JavaScript; the email pattern without its lookbehind finds more, never fewer.
_AUTOLINKS = (
    re.compile(r"(https?://|www(?=\.))[-.\w]+", re.I | re.A),
    re.compile(r"[-.\w+]+@[-\w]+(?:\.[-\w]+)+", re.A),
    re.compile(r":[-\w+]+:|:material[/_]|:[a-z]+\[", re.A),  # remark-emoji shortcodes, Streamlit icons, colours
)
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def rendered(source: str) -> str:
    """The text a markdown source shows once its backslash escapes are resolved (with our word joiners)."""
    return _ESCAPE.sub(r"\1", source)


def read(source: str) -> str:
    """The text as a person reads it: escapes resolved, word joiners gone."""
    return rendered(source).replace(WORD_JOINER, "")


def markdown_problems(source: str) -> list[str]:
    """Why a markdown source would not render as plain text: an empty list when it is inert."""
    problems = []
    if (char := hidden_in(source, allow=WORD_JOINER)) is not None:
        problems.append(f"holds the hidden character {char!r}")
    unescaped = _ESCAPE.sub("", source)  # what is left can start markdown
    for marker, what in (("[", "a link or image"), ("<", "HTML or an autolink"), ("&", "an entity")):
        if marker in unescaped:
            problems.append(f"has an unescaped {marker!r}: {what}")
    if re.search(r"(?m)^\s{0,3}#", unescaped) or re.search(r"\n\s*\n", source):
        problems.append("has a heading or a blank line that starts block markdown")
    text = rendered(source)
    problems += [f"autolinks {m.group(0)!r}" for pattern in _AUTOLINKS for m in pattern.finditer(text)]
    return problems


# ─── CSV: safe in a spreadsheet, exact for a program ─────────────────────────────────────────────────
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
# What a spreadsheet may run: =, +, -, @ first (leading whitespace is trimmed), or a tab, CR or LF first.
_FORMULA = re.compile(r"(?:[\t\r\n]|\s*[=+\-@])")


def csv_problems(data: bytes) -> list[str]:
    """Why a CSV export is not safe to open in a spreadsheet: an empty list when every cell is inert.

    Checks the raw text (records end only in \\r\\n outside quotes, none starts with a formula character) and
    every cell as Python's csv module reads it (none that a spreadsheet would run, numbers aside).
    """
    problems = []
    if not data.startswith(b"\xef\xbb\xbf"):
        problems.append("no byte-order mark")
    text = data.decode("utf-8-sig")
    quoted, start, records = False, 0, []
    for i, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif char in "\r\n" and not quoted:
            if text[i : i + 2] != "\r\n" and text[i - 1 : i + 1] != "\r\n":
                problems.append(f"a lone {char!r} outside quotes at {i}: a spreadsheet starts a row there")
            if char == "\n":
                records.append(text[start : i - 1])
                start = i + 1
    for number, record in enumerate(records, start=1):
        if re.match(r"\s*[=+\-@]|\t", record) and not re.match(_NUMBER.pattern + "(?:,|$)", record):
            problems.append(f"record {number} starts with a formula character: {record[:30]!r}")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        problems.append(f"rows of different widths {sorted(widths)}: a value broke out of its cell")
    for row in rows:
        for cell in row:
            if _FORMULA.match(cell) and not _NUMBER.fullmatch(cell):
                problems.append(f"cell {cell[:30]!r} runs as a formula")
    return problems


def csv_rows(data: bytes) -> list[dict[str, str]]:
    """A CSV export as Python's csv module reads it, one dict per row."""
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def json_strings(value: object) -> list[str]:
    """Every key and string in a JSON value, or in JSON text (as st.json's proto holds it)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (str(k), *json_strings(v if not isinstance(v, str) else [v]))]
    if isinstance(value, list):
        return [s for v in value for s in ([v] if isinstance(v, str) else json_strings(v))]
    return [value] if isinstance(value, str) else []


# ─── A catalogue written straight to the database ─────────────────────────────────────────────────────
def write_hostile_catalogue(engine) -> dict[str, object]:
    """Providers, a model for every storable string (in every text column and in JSON keys and values), jobs and
    an audited edit, all written in SQL as other code on a live project could. Returns the ids worth knowing."""
    import sqlalchemy as sa

    from tests.factories import make_job, make_model, make_provider

    evil = make_provider(engine, name=f"evil-{ESCAPE}", display_name=f"{LINK} {RLO} {EMAIL}")
    plain = make_provider(engine, name="plain", display_name=f"Plain {HTML}")
    modalities, slots, models = ("image", "video", "audio", "text"), set(), []
    for n, text in enumerate(STORABLE):
        modality = modalities[n % 4]
        task = "generation" if n % 3 else f"task {text[:40]}"
        model = make_model(
            engine,
            evil if n % 2 else plain,
            display_name=text,
            model_key=f"{text}/{n}",
            model_family=text,
            endpoint_path=text,
            output_format=text,
            version=text[:60] if n % 5 == 0 else None,
            modality=modality,
            task=task,
            is_default=(modality, task) not in slots,
            priority=n % 3,
            input_defaults={"prompt": text, text[:40]: 1},
            capabilities={text[:40]: True},
            pricing={"per_image": 0.01, "currency": "USD", "billing_unit": "per_image", "note": text},
        )
        slots.add((modality, task))
        models.append(model)
        make_job(engine, model, status="completed" if n % 2 else "failed", quality_rating=4)
    with engine.begin() as conn:  # an update, so the audit trail has a before and an after
        conn.execute(
            sa.text("update api_models set display_name = :name, model_family = :family where id = :id"),
            {"name": CR_FORMULA + " " + URL, "family": ESCAPE, "id": models[1]},
        )
    return {"evil": evil, "plain": plain, "models": models}
