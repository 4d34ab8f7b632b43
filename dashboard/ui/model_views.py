"""How models are shown: the table's columns, exports, and a read-only view of one model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.services.catalogue import price_summary
from dashboard.services.routing_rules import can_take_jobs
from dashboard.services.transfer import to_csv, to_json
from dashboard.text import md_escape, visible, visible_json

Row = dict[str, Any]
# Pixel widths that show a whole model key (the demo's longest, a Replicate key with its 64-hex version, is 82
# characters) on a 1920-pixel screen with the sidebar open; narrower screens scroll the table sideways with
# the model's name pinned.
TABLE_COLUMNS = {
    "display_name": st.column_config.TextColumn("Model", width=150, pinned=True),
    "model_key": st.column_config.TextColumn("Model key", width=552),
    "version": st.column_config.TextColumn("Version", width=55),
    "provider_name": st.column_config.TextColumn("Provider", width=90),
    "modality": st.column_config.TextColumn("Modality", width=60),
    "task": st.column_config.TextColumn("Task", width=105),
    "priority": st.column_config.NumberColumn("Priority", help="Lower is preferred", width=55),
    "price": st.column_config.TextColumn("Price", help="The price per billing unit, from pricing", width=110),
    "routing": st.column_config.TextColumn("Routing", width=80),
    "is_default": st.column_config.CheckboxColumn("Default", width=55),
    "updated_at": st.column_config.DatetimeColumn("Updated", format="YYYY-MM-DD HH:mm", width=105),
}


def routing_state(row: Row) -> str:
    """Whether routing can use the model (routing_rules.can_take_jobs), in words."""
    if can_take_jobs({**row, "provider_active": row.get("provider_active", True)}):
        return "active"
    return "inactive" if not row["is_active"] else "provider inactive"


def models_frame(rows: list[Row]) -> pd.DataFrame:
    """The table's rows: what browse_models returned, with routing and price in words."""
    frame = pd.DataFrame(rows, columns=[*TABLE_COLUMNS, "id", "is_active", "provider_active", "model_family"])
    frame["routing"] = [routing_state(r) for r in rows]
    frame["price"] = [price_summary(r.get("pricing")) for r in rows]
    return frame


def rows_to_json(rows: list[Row]) -> str:
    """The models as the import reads them back: JSONB fields exactly as stored, with each row's id and times."""
    return to_json(rows, record=True)


def csv_export(rows: list[Row]) -> bytes:
    """The models as the import reads them back: JSON fields as JSON text, safe in a spreadsheet; with each row's
    id and times."""
    return to_csv(rows, record=True)


def when_utc(value: Any, missing: str = "—") -> str:
    """A timestamp from the database as 2026-01-31 14:05 UTC."""
    if not isinstance(value, datetime):
        return missing
    return (value.astimezone(UTC) if value.tzinfo else value).strftime("%Y-%m-%d %H:%M UTC")


def render_model_details(model: Row) -> None:
    """A read-only view of every field of one model."""
    st.subheader(md_escape(model["display_name"]))
    facts = {
        "Model key": model["model_key"],
        "Version": model.get("version") or "—",
        "Family": model.get("model_family") or "—",
        "Modality / task": f"{model['modality']} / {model['task']}",
        "Priority": model["priority"],
        "Active": "yes" if model["is_active"] else "no",
        "Default": "yes" if model["is_default"] else "no",
        "Endpoint": model.get("endpoint_path") or "—",
        "Output format": model.get("output_format") or "—",
        "Price": price_summary(model.get("pricing")) or "—",
        "Id": model["id"],
        "Updated": when_utc(model.get("updated_at")),
    }
    st.dataframe(pd.DataFrame({"Field": list(facts), "Value": [visible(v) for v in facts.values()]}), hide_index=True)
    for name, label in (("input_defaults", "Input defaults"), ("capabilities", "Capabilities"), ("pricing", "Pricing")):
        st.caption(label)
        st.json(visible_json(model.get(name) or {}), expanded=True)


# ─── One click on the table ────────────────────────────────────────────────────────────────
_SHOWN_IDS = "_models_table_ids"  # the model ids of the table's rows, as last drawn
_SELECTION_KEYS = ("rows", "columns", "cells")
_SHOWING = "_models_details_showing"  # the selection whose model the read-only view shows
_CLOSED = "_models_details_closed"  # the selection whose view the person closed


def remember_rows(ids: list[str]) -> None:
    """Call when drawing the table: the rows a click on it refers to."""
    st.session_state[_SHOWN_IDS] = list(ids)


def take_click(table_key: str) -> str | None:
    """An admin's table, before it is drawn: the model whose cell was clicked (of the rows as last drawn), or None.

    The click is taken out of the table's state, so that it opens the model once (coming back to the page does
    not open it again); ticked rows (the bulk selection) stay ticked. The state is read as untrusted: anything
    but a cell of a row that was shown is ignored, and a malformed state is replaced by a clean one.
    """
    selection, well_formed = _selection(table_key)
    cells = selection.get("cells")
    if well_formed and not cells:
        return None
    ids = st.session_state.get(_SHOWN_IDS) or []
    row = next((c[0] for c in cells if _is_cell(c, len(ids))), None) if isinstance(cells, list) else None
    rows = selection.get("rows") if isinstance(selection.get("rows"), list) else []
    st.session_state[table_key] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    return None if row is None else ids[row]


def picked_to_view(table_key: str) -> str | None:
    """A plain user's table, before it is drawn: the model of the clicked cell (or ticked row), unless the person
    closed its view since. The browser keeps the table's selection as it was (a selection changed here does not
    reach it), so a closed view is remembered rather than the selection cleared: another model opens at once."""
    selection, well_formed = _selection(table_key)
    if not well_formed:
        st.session_state[table_key] = {"selection": {"rows": [], "columns": [], "cells": []}}
    if not well_formed or not selection:
        return None
    ids = st.session_state.get(_SHOWN_IDS) or []
    row = next((c[0] for c in selection["cells"] if _is_cell(c, len(ids))), None)
    if row is None:
        row = next((r for r in selection["rows"] if _is_cell([r, ""], len(ids))), None)
    if row is None:
        st.session_state.pop(_CLOSED, None)
        return None
    shown = (ids[row], repr(selection["cells"]), repr(selection["rows"]))
    if st.session_state.get(_CLOSED) == shown:
        return None
    st.session_state[_SHOWING] = shown
    return ids[row]


def _selection(table_key: str) -> tuple[dict[str, Any], bool]:
    state = st.session_state.get(table_key)
    selection = state.get("selection") if isinstance(state, dict) else None
    well_formed = isinstance(selection, dict) and all(isinstance(selection.get(k), list) for k in _SELECTION_KEYS)
    return (selection if isinstance(selection, dict) else {}), well_formed or state is None


def _is_cell(cell: Any, size: int) -> bool:
    return (
        isinstance(cell, list | tuple)
        and len(cell) == 2
        and isinstance(cell[0], int)
        and not isinstance(cell[0], bool)
        and 0 <= cell[0] < size
    )


def show_model_panel(model: Row) -> None:
    """A plain user's read-only view of the model they clicked, above the table, with Close. (Not a dialog: in a
    browser the table took no clicks for a while after a dialog closed.)"""

    def close() -> None:
        st.session_state[_CLOSED] = st.session_state.get(_SHOWING)  # see picked_to_view

    with st.container(border=True):
        render_model_details(model)
        st.button("Close", key="model_details_close", icon=":material/close:", on_click=close)
