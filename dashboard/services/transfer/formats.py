"""The files of an export or import: JSON that keeps the JSONB fields exactly, CSV with them as JSON text.

JSONB numbers are read as PostgreSQL prints them and parsed as Decimal, and written back from that
text, so 0.10 stays 0.10 and long decimals keep every digit; a round trip changes nothing. CSV goes through
the one guarded writer (dashboard.export.csv_bytes) and is read back with its unguard, so an export
imports back exactly.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from dashboard.export import csv_bytes, unguard
from dashboard.services.base import Row
from dashboard.services.errors import ImportRefused
from dashboard.services.validation import JSON_FIELDS
from dashboard.text import json_visible

FORMAT = "api_models/v1"
# provider (by name) and model_key are required in every row; the rest may be left out of an update.
COLUMNS = (
    "provider",
    "model_key",
    "version",
    "display_name",
    "modality",
    "task",
    "model_family",
    "endpoint_path",
    "input_defaults",
    "capabilities",
    "pricing",
    "output_format",
    "is_active",
    "is_default",
    "priority",
)
KEY_COLUMNS = ("provider", "model_key")
# What the Models page's export adds to say which rows it holds and as of when. The database keeps them, so an
# import reads them and leaves them alone: id as before, the timestamps dropped as the file is read.
RECORD_COLUMNS = ("id", "created_at", "updated_at")
_IGNORED_ON_IMPORT = ("created_at", "updated_at")
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 20_000
Key = tuple[str, str, str | None]  # provider name, model_key, version: what an import matches on
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


# ─── Exact JSON ────────────────────────────────────────────────────────────────────────────────
def loads_exact(text: str) -> Any:
    """JSON with every non-integer number as a Decimal, so no digit is lost."""
    return json.loads(text, parse_float=Decimal)


def dumps_exact(value: Any) -> str:
    """JSON text in which Decimals keep their digits (json.dumps would refuse or round them)."""
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{json.dumps(str(k), ensure_ascii=False)}: {dumps_exact(v)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, list):
        return "[" + ", ".join(dumps_exact(v) for v in value) + "]"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("JSON has no NaN or Infinity")
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def as_float(value: Any) -> Any:
    """The same JSON with floats, for the validation rules (which check numbers as int or float)."""
    if isinstance(value, dict):
        return {k: as_float(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_float(v) for v in value]
    return float(value) if isinstance(value, Decimal) else value


# ─── Writing ─────────────────────────────────────────────────────────────────────────────────
def exact_row(row: sa.Row) -> Row:
    """An export row with its JSON fields (PostgreSQL's text) parsed exactly."""
    values = dict(row._mapping)
    for name in JSON_FIELDS:
        values[name] = loads_exact(values[name]) if values[name] is not None else {}
    return values


def _columns(record: bool) -> tuple[str, ...]:
    return (*COLUMNS, *RECORD_COLUMNS) if record else COLUMNS


def _record_value(value: Any) -> Any:
    """An id or timestamp as text (ISO 8601 with its offset for a timestamp)."""
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


def to_json(rows: Iterable[Row], *, record: bool = False) -> str:
    """The export document: the format, when, and the models (the key is provider/key/version; with record=True
    each model also carries its id, created_at and updated_at, which an import ignores).

    Control and invisible characters in its strings are written as \\u escapes: the same data, but a file that
    shows what it holds in an editor, a diff or a terminal.
    """
    models = [{c: _record_value(r.get(c)) if c in RECORD_COLUMNS else r.get(c) for c in _columns(record)} for r in rows]
    body = json_visible(",\n    ".join(dumps_exact(m) for m in models))
    head = {"format": FORMAT, "exported_at": datetime.now(UTC).isoformat(timespec="seconds")}
    return f'{{"format": {json.dumps(head["format"])}, "exported_at": {json.dumps(head["exported_at"])},\n' + (
        f'  "models": [\n    {body}\n  ]\n}}\n' if models else '  "models": []\n}\n'
    )


def to_csv(rows: Iterable[Row], *, record: bool = False) -> bytes:
    """CSV with JSON fields as JSON text and true/false flags, through the one guarded writer (dashboard.export);
    with record=True, the id, created_at and updated_at columns too (an import ignores them)."""
    columns = _columns(record)
    lines = []
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column)
            if column in RECORD_COLUMNS:
                value = _record_value(value)
            elif column in JSON_FIELDS:
                value = dumps_exact(value if value is not None else {})
            elif isinstance(value, bool):
                value = "true" if value else "false"
            cells.append(None if value is None else str(value))
        lines.append(cells)
    return csv_bytes(columns, lines)


# ─── Reading ─────────────────────────────────────────────────────────────────────────────
@dataclass
class SourceRow:
    """One model as the file gives it: where it is (line or position) and its raw values."""

    where: str
    values: dict[str, Any]


def read_file(data: bytes, name: str = "") -> list[SourceRow]:
    """The rows of a JSON or CSV file (told apart by name, else by content); ImportRefused when unreadable."""
    if len(data) > MAX_FILE_BYTES:
        raise ImportRefused(
            f"the file is {len(data) / 1024 / 1024:.1f} MB; at most {MAX_FILE_BYTES // 1024 // 1024} MB"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRefused(f"the file is not UTF-8 text (byte {exc.start + 1}); save it as UTF-8") from None
    if "\x00" in text:
        raise ImportRefused("the file contains NUL characters; it is not a JSON or CSV text file")
    lower = name.lower()
    is_json = lower.endswith(".json") or (not lower.endswith(".csv") and text.lstrip()[:1] in ("{", "["))
    rows = _read_json(text) if is_json else _read_csv(text)
    if not rows:
        raise ImportRefused("the file has no models")
    if len(rows) > MAX_ROWS:
        raise ImportRefused(f"the file has {len(rows):,} models; at most {MAX_ROWS:,} per import")
    return rows


def _read_json(text: str) -> list[SourceRow]:
    try:
        document = loads_exact(text)
    except ValueError as exc:
        raise ImportRefused(f"the JSON is broken: {exc}") from None
    except RecursionError:
        raise ImportRefused("the JSON is nested too deeply") from None
    if isinstance(document, dict):
        if "models" not in document:
            raise ImportRefused('the JSON must be a list of models or an object with a "models" list')
        document = document["models"]
    if not isinstance(document, list):
        raise ImportRefused('"models" must be a list')
    rows = []
    for index, item in enumerate(document, start=1):
        if not isinstance(item, dict):
            rows.append(SourceRow(f"model {index}", {"__error__": "is not an object"}))
        else:
            rows.append(SourceRow(f"model {index}", {k: v for k, v in item.items() if k not in _IGNORED_ON_IMPORT}))
    return rows


def _read_csv(text: str) -> list[SourceRow]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ImportRefused("the file is empty") from None
    except csv.Error as exc:
        raise ImportRefused(f"the CSV is broken: {exc}") from None
    header = [h.strip() for h in header]
    _check_columns(header)
    rows = []
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                rows.append(
                    SourceRow(f"line {line}", {"__error__": f"has {len(values)} cells; the header has {len(header)}"})
                )
                continue
            cells = {h: _csv_value(h, v) for h, v in zip(header, values, strict=True) if h not in _IGNORED_ON_IMPORT}
            rows.append(SourceRow(f"line {line}", cells))
    except csv.Error as exc:
        raise ImportRefused(f"the CSV is broken at line {reader.line_num}: {exc}") from None
    return rows


def _check_columns(header: list[str]) -> None:
    unknown = [h for h in header if h not in COLUMNS and h not in RECORD_COLUMNS]
    missing = [c for c in KEY_COLUMNS if c not in header]
    twice = sorted({h for h in header if header.count(h) > 1})
    problems = []
    if unknown:
        problems.append(f"unknown columns: {', '.join(repr(u[:40]) for u in unknown[:10])}")
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    if twice:
        problems.append(f"columns given twice: {', '.join(twice)}")
    if problems:
        raise ImportRefused("; ".join(problems) + f". The columns are: {', '.join(COLUMNS)}")


def _csv_value(column: str, cell: str) -> Any:
    """A CSV cell as the value it stands for ('' is no value; the export's leading ' is taken off again). A JSON
    field stays text here: it is parsed when the row is checked, so that a broken one names its row."""
    cell = unguard(cell)  # exactly the guard the export added (dashboard.export.guard)
    if cell == "":
        return None
    if column in ("is_active", "is_default"):
        return _BOOLEANS.get(cell.strip().lower(), cell)
    if column == "priority":
        try:
            return int(cell.strip())
        except ValueError:
            return cell
    return cell
