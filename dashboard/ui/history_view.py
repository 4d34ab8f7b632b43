"""The audit trail on screen: entries with their field-level changes, a CSV of them, and restoring a version."""

from __future__ import annotations

from uuid import UUID

import pandas as pd
import streamlit as st

from dashboard.export import as_text
from dashboard.services import ServiceError
from dashboard.services.audit import TABLES, AuditEntry, AuditFilters, AuditService
from dashboard.services.diff import Change
from dashboard.services.traffic_reads import TrafficService
from dashboard.text import md_escape, visible_frame, visible_json
from dashboard.ui import cached, paths
from dashboard.ui.feedback import flash, show_error
from dashboard.ui.reviewed import reviewed

_VERBS = {"insert": "added", "update": "changed", "delete": "deleted"}


def _shown(change: Change, value: object) -> str:
    """A value as every table and CSV writes it: true and false, JSON text, "empty", "—" for a missing key."""
    return change.shown(as_text(value))


def changes_table(entries: list[AuditEntry]) -> pd.DataFrame:
    """One line per changed field (JSON fields key by key): what the CSV export holds."""
    lines = []
    for entry in entries:
        base = {
            "at": entry.at,
            "who": entry.who,
            "table": entry.table_name,
            "id": str(entry.row_id),
            "name": entry.name,
            "action": entry.action,
            "entry": entry.id,
            "restored_from": entry.restored_from,
        }
        for change in entry.changes or [None]:
            lines.append(
                {
                    **base,
                    "field": change.path if change else "",
                    "before": _shown(change, change.before) if change else "",
                    "after": _shown(change, change.after) if change else "",
                }
            )
    frame = pd.DataFrame(
        lines,
        columns=["at", "who", "table", "id", "name", "action", "entry", "restored_from", "field", "before", "after"],
    )
    frame["restored_from"] = frame["restored_from"].astype("Int64")  # an entry number, never 12.0
    return frame


def _label(entry: AuditEntry) -> str:
    fields = len(entry.changes)
    what = f"{_VERBS[entry.action]} {TABLES.get(entry.table_name, entry.table_name)[:-1].lower()} {entry.name}"
    detail = f" ({fields} field{'s' if fields != 1 else ''})" if entry.action == "update" else ""
    restored = f" · restored from entry {entry.restored_from}" if entry.restored_from is not None else ""
    return md_escape(f"{entry.at:%Y-%m-%d %H:%M:%S} · {entry.who} · {what}{detail}{restored} · entry {entry.id}")


def render_entries(entries: list[AuditEntry], service: AuditService, *, key: str) -> None:
    """Each entry as a line that opens onto its changes, with a restore for models' earlier versions.

    Which entries are open is kept in session state under a key per entry (open_<key>_<entry id>), so an entry
    stays open however the list above it moves (a restore adds an entry at the top), and one whose restore is
    being reviewed is opened, so its confirmation is never hidden.
    """
    for entry in entries:
        review = f"restore_{key}_{entry.id}"
        opened = f"open_{key}_{entry.id}"
        if st.session_state.get(f"_review_{review}"):  # the review state of reviewed() below
            st.session_state[opened] = True
        # Drawn when opened (the entries read their changes anyway): 50 closed entries each drew a table that
        # nobody saw, most of the page's time and of what it sent the browser.
        box = st.expander(_label(entry), key=opened, on_change="rerun")
        if box.open:
            with box:
                _render_entry(entry, service, review)


def _render_entry(entry: AuditEntry, service: AuditService, review: str) -> None:
    """An opened entry: what changed, and the restore of the version before it (for models)."""
    if entry.restored_from is not None:
        st.caption(f"A restore: it put back the version from before entry {entry.restored_from}.")
    if entry.action == "update":
        st.dataframe(
            visible_frame(
                pd.DataFrame(
                    [
                        {"Field": c.path, "Before": _shown(c, c.before), "After": _shown(c, c.after)}
                        for c in entry.changes
                    ]
                )
            ),
            hide_index=True,
            width="stretch",
        )
    else:
        row = entry.new_row or entry.old_row or {}
        st.json(visible_json(row), expanded=False)
    if entry.table_name == "api_models" and entry.old_row is not None:
        label = "Bring this model back" if entry.action == "delete" else "Restore the version before this"
        prompt = (
            f"Put {entry.name} back as it was before this change? Its current values are replaced; "
            f"the restore is recorded here too, as restored from entry {entry.id}."
        )
        try:
            if reviewed(
                label,
                key=review,
                prompt=prompt,
                action_label="Restore",
                impacts=lambda entry=entry: service.review_restore(entry.id),
                traffic=lambda entry=entry: TrafficService(service.engine, user_id=service.user_id).of_write(
                    entry.old_row, model_id=entry.row_id
                ),
            ):
                restored = service.restore(entry.id)
                cached.clear()
                flash(f"{restored.describe('Restored')} History records it as restored from entry {entry.id}.")
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
    st.page_link(
        paths.HISTORY,
        label="All of this model's history",
        icon=":material/history:",
        query_params={"model": str(model_id)},
    )
