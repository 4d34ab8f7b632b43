"""The audit trail on screen: entries with their field-level changes, a CSV of them, and restoring a version."""

from __future__ import annotations

from uuid import UUID

import pandas as pd
import streamlit as st

from dashboard.services import ServiceError
from dashboard.services.audit import TABLES, AuditEntry, AuditFilters, AuditService
from dashboard.text import md_escape, visible_frame, visible_json
from dashboard.ui import cached, paths
from dashboard.ui.feedback import flash, show_error
from dashboard.ui.reviewed import reviewed

_VERBS = {"insert": "added", "update": "changed", "delete": "deleted"}


def changes_table(entries: list[AuditEntry]) -> pd.DataFrame:
    """One line per changed field (JSON fields key by key): what the CSV export holds."""
    lines = []
    for entry in entries:
        base = {"at": entry.at, "who": entry.who, "table": entry.table_name, "id": str(entry.row_id),
                "name": entry.name, "action": entry.action, "entry": entry.id}  # fmt: skip
        for change in entry.changes or [None]:
            lines.append({**base, "field": change.path if change else "",
                          "before": change.shown(change.before) if change else "",
                          "after": change.shown(change.after) if change else ""})  # fmt: skip
    return pd.DataFrame(lines, columns=["at", "who", "table", "id", "name", "action", "entry", "field", "before",
                                        "after"])  # fmt: skip


def render_entries(entries: list[AuditEntry], service: AuditService, *, key: str) -> None:
    """Each entry as a line that opens onto its changes, with a restore for models' earlier versions."""
    for entry in entries:
        fields = len(entry.changes)
        what = f"{_VERBS[entry.action]} {TABLES.get(entry.table_name, entry.table_name)[:-1].lower()} {entry.name}"
        detail = f" ({fields} field{'s' if fields != 1 else ''})" if entry.action == "update" else ""
        with st.expander(md_escape(f"{entry.at:%Y-%m-%d %H:%M:%S} · {entry.who} · {what}{detail}")):
            if entry.action == "update":
                st.dataframe(visible_frame(pd.DataFrame([{"Field": c.path, "Before": c.shown(c.before),
                                                          "After": c.shown(c.after)} for c in entry.changes])),
                             hide_index=True, width="stretch")  # fmt: skip
            else:
                row = entry.new_row or entry.old_row or {}
                st.json(visible_json(row), expanded=False)
            if entry.table_name == "api_models" and entry.old_row is not None:
                label = "Bring this model back" if entry.action == "delete" else "Restore the version before this"
                prompt = (f"Put {entry.name} back as it was before this change? Its current values are "
                          "replaced; the restore is recorded here too.")  # fmt: skip
                try:
                    if reviewed(label, key=f"restore_{key}_{entry.id}", prompt=prompt, action_label="Restore",
                                impacts=lambda entry=entry: service.review_restore(entry.id)):  # fmt: skip
                        restored = service.restore(entry.id)
                        cached.clear()
                        flash(restored.describe("Restored"))
                        st.rerun()
                except ServiceError as exc:
                    show_error(exc)


def render_model_history(model_id: UUID | str, service: AuditService) -> None:
    """A model's own history in its editor: the latest changes, each with its restore."""
    entries, total = service.history(AuditFilters(table_name="api_models", row_id=UUID(str(model_id))), limit=10)
    st.subheader("History")
    if not entries:
        st.caption("No recorded change yet.")
        return
    render_entries(entries, service, key="editor")
    if total > len(entries):
        st.caption(f"The latest {len(entries)} of {total:,} changes.")
    st.page_link(paths.HISTORY, label="All of this model's history", icon=":material/history:",
                 query_params={"model": str(model_id)})  # fmt: skip
