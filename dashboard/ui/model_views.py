"""How models are shown: the table's columns, exports, and a read-only view of one model."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard.services.routing_rules import can_take_jobs
from dashboard.services.transfer import to_csv, to_json
from dashboard.text import md_escape, visible, visible_json

Row = dict[str, Any]
# Pixel widths that fit a 1440-pixel screen with the sidebar open; the version is in the editor.
TABLE_COLUMNS = {
    "display_name": st.column_config.TextColumn("Model", width=190),
    "model_key": st.column_config.TextColumn("Model key", width=120),
    "provider_name": st.column_config.TextColumn("Provider", width=80),
    "modality": st.column_config.TextColumn("Modality", width=65),
    "task": st.column_config.TextColumn("Task", width=125),
    "priority": st.column_config.NumberColumn("Priority", help="Lower is preferred", width=55),
    "routing": st.column_config.TextColumn("Routing", width=95),
    "is_default": st.column_config.CheckboxColumn("Default", width=55),
    "updated_at": st.column_config.DatetimeColumn("Updated", format="YYYY-MM-DD HH:mm", width=115),
}


def routing_state(row: Row) -> str:
    """Whether routing can use the model (routing_rules.can_take_jobs), in words."""
    if can_take_jobs({**row, "provider_active": row.get("provider_active", True)}):
        return "active"
    return "inactive" if not row["is_active"] else "provider inactive"


def models_frame(rows: list[Row]) -> pd.DataFrame:
    frame = pd.DataFrame(
        rows, columns=[*TABLE_COLUMNS, "id", "version", "is_active", "provider_active", "model_family"]
    )
    frame["routing"] = [routing_state(r) for r in rows]
    return frame


def rows_to_json(rows: list[Row]) -> str:
    """The models as the import reads them back: JSONB fields exactly as stored."""
    return to_json(rows)


def csv_export(rows: list[Row]) -> bytes:
    """The models as the import reads them back: JSON fields as JSON text, safe in a spreadsheet."""
    return to_csv(rows)


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
    }
    st.dataframe(pd.DataFrame({"Field": list(facts), "Value": [visible(v) for v in facts.values()]}), hide_index=True)
    for name, label in (("input_defaults", "Input defaults"), ("capabilities", "Capabilities"), ("pricing", "Pricing")):
        st.caption(label)
        st.json(visible_json(model.get(name) or {}), expanded=True)
