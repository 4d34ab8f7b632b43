"""The Import and export page's parts: the dry run's tables, and reading a file or pasted text."""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from dashboard.export import as_text
from dashboard.services.transfer import ImportPlan, ImportRefused, TransferService
from dashboard.text import visible_frame
from dashboard.ui.impact_review import render_traffic

_PLAN = "_import_plan"


def plan_table(plan: ImportPlan) -> pd.DataFrame:
    """One line per problem, change or note, in file order; unchanged rows left out."""
    lines = []
    for row in plan.rows:
        if row.status == "unchanged":
            continue
        base = {"Row": row.where, "Model": row.describe_key(), "Status": row.status}
        for field, problem in row.problems.items():
            lines.append({**base, "Field": field, "Before": "", "After": "", "Note": problem})
        if row.status == "changed":
            for change in row.changes:
                lines.append(
                    {
                        **base,
                        "Field": change.path,
                        "Before": change.shown(as_text(change.before)),
                        "After": change.shown(as_text(change.after)),
                        "Note": "",
                    }
                )
        for note in row.notes:
            lines.append({**base, "Field": "", "Before": "", "After": "", "Note": note})
        if row.status == "new" and not row.notes:
            lines.append({**base, "Field": "", "Before": "", "After": "", "Note": f"adds {row.display_name}"})
    return pd.DataFrame(lines, columns=["Row", "Model", "Status", "Field", "Before", "After", "Note"])


def render_routing(plan: ImportPlan) -> None:
    """What applying the plan does to routing, worst first, in a table the dry run shows (Apply shows it again)."""
    if not plan.writes:
        return
    worst = {i.severity for i in plan.impacts}
    title = f"What this import does to routing ({len(plan.impacts):,})" if plan.impacts else "Routing stays as it is"
    with st.expander(title, expanded=bool(worst & {"error", "warning"}), icon=":material/alt_route:"):
        if not plan.impacts:
            st.caption("Every slot the import touches keeps the model it routes to, and every default stays usable.")
        else:
            table = pd.DataFrame(
                [(i.severity, i.slot, i.message) for i in plan.impacts], columns=["Severity", "Slot", "What happens"]
            )
            st.dataframe(visible_frame(table), hide_index=True, width="stretch")
        if plan.traffic is not None:
            render_traffic(plan.traffic)


def dry_run(service: TransferService, data: bytes, name: str) -> tuple[ImportPlan | None, str | None]:
    """The plan for this file (computed once per file's content), or why the file cannot be read."""
    digest = hashlib.sha256(data).hexdigest()
    cached = st.session_state.get(_PLAN)
    if cached and cached[0] == digest:
        return cached[1], None
    bar = st.progress(0.0, text="Checking the file…")
    try:
        plan = service.plan(
            data,
            name,
            progress=lambda done, total: bar.progress(done / total, text=f"Checked {done:,} of {total:,} rows"),
        )
    except ImportRefused as exc:
        return None, str(exc)
    finally:
        bar.empty()
    st.session_state[_PLAN] = (digest, plan)
    return plan, None


def forget_plan() -> None:
    st.session_state.pop(_PLAN, None)
