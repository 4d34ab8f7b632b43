"""CSV that opens cleanly and safely in a spreadsheet: the one writer every CSV export goes through.

Every cell a spreadsheet would run as a formula (OWASP CSV injection) gets a leading apostrophe: one starting
with =, +, -, @, a tab, a carriage return or a line break, also after leading whitespace (spreadsheets trim it)
and after apostrophes (so that unguard() can take exactly one off again and an export reads back as it was).
Lines end in \\r\\n, so a lone \\r in a value is quoted like \\n and never starts a row of its own.
Flags are written true and false (as_text), as the import format, JSON and PostgreSQL spell them.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

_FORMULA = re.compile(r"'*(?:[\t\r\n]|\s*[=+\-@])")


def is_formula_like(text: str) -> bool:
    """Whether a spreadsheet could read text (or text with leading apostrophes) as a formula."""
    return _FORMULA.match(text) is not None


def guard(text: str) -> str:
    """A cell no spreadsheet runs as a formula: a leading ' where one could; unguard() undoes it exactly."""
    return "'" + text if _FORMULA.match(text) else text


def unguard(text: str) -> str:
    """A cell as it was before guard(): every guarded cell starts with ' and is still formula-like."""
    return text[1:] if text.startswith("'") and _FORMULA.match(text) else text


def as_text(value: Any) -> Any:
    """True and False as "true" and "false" (never Python's True/False, nor 1/0); any other value as it is.

    Every CSV cell, dry run and History table writes flags this way, so a flag reads the same everywhere and a
    JSON value that changed from 1 to true shows as 1 -> true.
    """
    return ("true" if value else "false") if isinstance(value, bool | np.bool_) else value


def neutralise_cell(value: Any) -> Any:
    """A value as its CSV cell text would hold it: JSON objects as JSON text, text guarded, the rest as is."""
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return guard(value) if isinstance(value, str) else value


def _cell(value: Any) -> str:
    if value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    value = neutralise_cell(as_text(value))
    return value if isinstance(value, str) else str(value)


def csv_bytes(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> bytes:
    """UTF-8 CSV with a byte-order mark (so Excel reads accents), \\r\\n line ends, every text cell guarded."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_cell(h) for h in header])
    writer.writerows([_cell(v) for v in row] for row in rows)
    return buffer.getvalue().encode("utf-8-sig")


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """A DataFrame as the CSV download of a table or chart."""
    return csv_bytes(list(frame.columns), frame.itertuples(index=False, name=None))
