"""Defaults: the default model of each modality and task, the gaps, and (admins) changing a default."""

import pandas as pd
import streamlit as st

from dashboard.services.catalogue import slot_grid
from dashboard.services.errors import ServiceError
from dashboard.services.routing_rules import exclusion_reason
from dashboard.services.traffic_reads import TrafficService
from dashboard.text import md_escape, visible, visible_frame
from dashboard.ui import cached, paths
from dashboard.ui.context import context
from dashboard.ui.feedback import flash, show_error
from dashboard.ui.impact_review import impact_review

DEFAULT_COLUMNS = {
    "modality": st.column_config.TextColumn("Modality", width="small"),
    "task": st.column_config.TextColumn("Task", width="small"),
    "display_name": st.column_config.TextColumn("Model", width="medium"),
    "provider_name": st.column_config.TextColumn("Provider", width="small"),
    "priority": st.column_config.NumberColumn("Priority", help="Lower is preferred", width="small"),
    "updated_at": st.column_config.DatetimeColumn("Updated", format="YYYY-MM-DD HH:mm", width="small"),
}
_PENDING = "_defaults_pending"
NEEDS_A_DEFAULT = ("no_default", "default_inactive", "default_provider_inactive")  # routing_rules' finding codes

ctx = context()
st.title("Defaults")
slots = {slot.label: slot for slot in cached.slots()}
if not slots:
    st.info("There are no models yet, so there are no defaults. Models are added on the Models page.")
    st.page_link(paths.MODELS, label="Go to Models", icon=":material/table_rows:")
    st.stop()

st.subheader("Default models")
defaults = pd.DataFrame(cached.default_models(), columns=[*DEFAULT_COLUMNS, "provider_id"])
# The seed's query names the provider by its key (openai); every other page says its display name (OpenAI).
names = {p["id"]: p["display_name"] for p in cached.provider_choices()}
defaults["provider_name"] = defaults["provider_id"].map(names).fillna(defaults["provider_name"])
st.dataframe(
    visible_frame(defaults[list(DEFAULT_COLUMNS)]),
    column_config=DEFAULT_COLUMNS,
    hide_index=True,
    width="stretch",
    height="content",
    key="defaults_table",
)

st.subheader("Every modality and task")
st.caption(
    "Each cell: the slot's default · how many active models can take its jobs. ⚠ marks a slot whose jobs "
    "may not route as intended; an empty cell is a slot no model serves."
)
grid = visible_frame(slot_grid(list(slots.values())))
columns = {c: st.column_config.TextColumn(c.capitalize(), width=140 if c == "task" else 215) for c in grid}
gaps = grid.style.map(lambda cell: "color: #b45309; font-weight: 600" if cell.startswith("⚠") else "")
st.dataframe(gaps, column_config=columns, hide_index=True, width="stretch", height="content", key="defaults_grid")

if not ctx.identity.is_admin:
    st.info("Only admins can change defaults.")
    st.stop()

st.subheader("Change a default")
wanted = st.query_params.get("slot")
if "defaults_slot" not in st.session_state:
    # Start where an admin is needed: the linked slot, else the first slot with candidates but no default.
    needy = [label for label, s in slots.items() if any(f.code in NEEDS_A_DEFAULT for f in s.findings)]
    st.session_state["defaults_slot"] = wanted if wanted in slots else (needy or list(slots))[0]
slot_col, model_col = st.columns(2)
slot = slots[slot_col.selectbox("Modality and task", list(slots), key="defaults_slot", format_func=visible)]
active_providers = {p["id"] for p in cached.provider_choices() if p["is_active"]}
providers = {p["id"]: p["display_name"] for p in cached.provider_choices()}
options = {str(m["id"]): m for m in cached.models_for_task(slot.modality, slot.task) if not m["is_default"]}


def _label(model_id: str) -> str:
    model = options[model_id]
    reason = exclusion_reason(
        {
            **model,
            "provider_active": model["provider_id"] in active_providers,
            "provider_name": providers.get(model["provider_id"], ""),
        }
    )
    off = f" ({reason}: routing skips it)" if reason else ""
    return visible(f"{model['display_name']} · priority {model['priority']}{off}")


if not options:
    st.info(md_escape(f"{slot.label} has no other active model to make its default."))
    st.stop()
choice = model_col.selectbox(
    "New default",
    list(options),
    key=f"defaults_model_{slot.label}",
    format_func=_label,
    index=None,
    placeholder="Pick a model",
)
if choice is None:
    st.stop()
model = options[choice]
name = model["display_name"]
if st.button("Make default", type="primary", icon=":material/star:"):
    st.session_state[_PENDING] = str(model["id"])
if st.session_state.get(_PENDING) != str(model["id"]):
    st.stop()

try:
    impacts = ctx.catalogue.default_impact(model["id"])
    traffic = TrafficService(ctx.engine, user_id=ctx.identity.user_id).of_default(model["id"])
except ServiceError as exc:
    show_error(exc)
    st.stop()
replacing = f", replacing {slot.default_name}" if slot.default_name else ", which has no default now"
answer = impact_review(
    "defaults",
    impacts,
    action_label="Confirm",
    prompt=f"{name} becomes the default for {slot.label}{replacing}. Confirm to apply.",
    traffic=traffic,
)
if answer is False:
    st.session_state.pop(_PENDING, None)
    st.rerun()
if answer:
    st.session_state.pop(_PENDING, None)
    try:
        replaced = ctx.models.set_default(model["id"])
    except ServiceError as exc:
        show_error(exc)
        st.stop()
    cached.clear()
    flash(
        f"{name} is now the default for {slot.label}"
        + (f"; it replaced {replaced['display_name']}." if replaced else ".")
    )
    st.rerun()
