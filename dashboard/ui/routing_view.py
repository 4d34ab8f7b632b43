"""One slot of the Routing preview at any number of models: its warnings, the first candidates and left-out models
with a search and a count of the rest, the pick, every model in the CSV (built only when someone downloads it),
and reordering the slot."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from dashboard.export import to_csv_bytes
from dashboard.services.bulk import moved_to, renumbered, renumbering_note
from dashboard.services.catalogue import CatalogueService
from dashboard.services.errors import ServiceError
from dashboard.services.routing import (
    RoutedModel,
    RoutingPreview,
    RoutingService,
    found_in,
    matching,
    preview_table,
    slots_table,
)
from dashboard.services.routing_rules import exclusion_reason, pick, slot_impact
from dashboard.services.traffic_reads import TrafficService
from dashboard.text import md_escape, visible, visible_frame, visible_json
from dashboard.ui import cached, kept_reads
from dashboard.ui.context import CacheVersion, context
from dashboard.ui.feedback import ICONS, flash, show_error
from dashboard.ui.impact_review import impact_review

Row = dict[str, Any]

SHOWN = 100  # rows of each table; the rest are counted, found by the search, and all in the CSV
_TTL = 600


def slot_preview(modality: str, task: str) -> RoutingPreview:
    """The slot's preview, read once per data version for everyone who sees the same rows (cached.reader()), not
    once per click; the read runs as the person who asked first, under RLS."""
    ctx = context()
    return _slot_preview(ctx.engine, ctx.user_key, cached.reader(), ctx.cache_version, modality, task)


# cache_resource hands every click the same object, where cache_data would unpickle a copy of it (0.1-0.3 s at
# 10,000 models): nothing that reads it changes it. Keyed like cached.py's reads: reader and data version.
@st.cache_resource(ttl=_TTL, show_spinner=False, max_entries=32)
def _slot_preview(
    _engine: Engine, _actor: str, reader: str, version: CacheVersion, modality: str, task: str
) -> RoutingPreview:
    return RoutingService(_engine, user_id=_actor).preview(modality=modality, task=task)


def all_slots() -> tuple[list[RoutingPreview], pd.DataFrame]:
    """Every slot's preview and the summary table of them, read and built once per data version and reader (as
    slot_preview), not on every click of "All slots"; after a write, only the slots it touched are read and built
    again (ui/kept_reads.py: at 10,000 models a whole read and build took about 200 ms)."""
    ctx = context()
    return _all_slots(ctx.engine, ctx.user_key, cached.reader(), ctx.cache_version)


@st.cache_resource(ttl=_TTL, show_spinner=False, max_entries=8)
def _all_slots(
    _engine: Engine, _actor: str, reader: str, version: CacheVersion
) -> tuple[list[RoutingPreview], pd.DataFrame]:
    service = RoutingService(_engine, user_id=_actor)
    previews = kept_reads.refreshed(
        (_engine.url.render_as_string(hide_password=True), "routing previews", reader),
        version,
        epoch=CatalogueService(_engine, user_id=_actor).changes_epoch,
        whole=service.preview_all,
        partial=service.preview_all_since,
    )
    return previews, slots_table(previews)


def render_slot(preview: RoutingPreview) -> None:
    """The slot's warnings, its candidates and left-out models (the first SHOWN of each, searchable), the pick."""
    for warning in preview.warnings:
        show = st.error if warning.severity == "error" else st.warning
        show(
            md_escape(warning.message),
            icon=":material/error:" if warning.severity == "error" else ":material/warning:",
        )
    ranked, picked = st.columns([3, 2], gap="large")
    with ranked:
        find, export = st.columns([3, 1], vertical_alignment="bottom")
        text = find.text_input("Find a model", key="r_find", max_chars=200, placeholder="Name, provider or model id")
        export.download_button(
            "Export CSV",
            lambda: to_csv_bytes(preview_table(preview)),  # every model of the slot, built when asked
            file_name=f"routing-{preview.modality}-{preview.task}.csv",
            mime="text/csv",
            icon=":material/download:",
            on_click="ignore",
            key="r_export",
            width="stretch",
        )
        st.subheader("Candidates, best first")
        _table(matching(preview.candidates, text), len(preview.candidates), text, _candidate_row, "candidates")
        st.subheader("Left out")
        _table(matching(preview.excluded, text), len(preview.excluded), text, _left_out_row, "models left out")
    with picked:
        _render_pick(preview)


def _table(found: list[RoutedModel], total: int, text: str, row, what: str) -> None:
    if not found:
        if text.strip() and total:
            st.caption(md_escape(f"None of the {total:,} {what} matches “{text.strip()}”."))
        elif what == "candidates":
            st.caption("No model can take these jobs.")
        else:
            st.caption("Every model of this slot can take its jobs.")
        return
    st.dataframe(
        visible_frame(pd.DataFrame([row(m) for m in found[:SHOWN]])),
        hide_index=True,
        width="stretch",
        column_config={"Why": st.column_config.TextColumn(width="large")},  # "provider … inactive" whole
    )
    if len(found) > SHOWN or len(found) < total:
        shown = f"the first {SHOWN:,} of {len(found):,}" if len(found) > SHOWN else f"{len(found):,}"
        matched = " matching" if len(found) < total else ""
        st.caption(f"Showing {shown}{matched} {what} ({total:,} in all); search to find others, or export them all.")


def _candidate_row(m: RoutedModel) -> dict:
    return {
        "Rank": m.rank,
        "Role": "picked" if m.rank == 1 else "fallback",
        "Model": m.display_name,
        "Provider": m.provider_name,
        "Priority": m.priority,
        "Default": m.is_default,
    }


def _left_out_row(m: RoutedModel) -> dict:
    return {
        "Model": m.display_name,
        "Provider": m.provider_name,
        "Priority": m.priority,
        "Default": m.is_default,
        "Why": m.reason,
    }


def _render_pick(preview: RoutingPreview) -> None:
    if not (preview.picked and preview.picked_row):
        return
    st.subheader("Picked")
    st.markdown(f"**{md_escape(preview.picked.display_name)}** · {md_escape(preview.picked.provider_name)}")
    st.code(visible(preview.picked.model_key), language=None)  # a code block never parses markdown
    st.caption("Input defaults")
    st.json(visible_json(preview.picked_row.get("input_defaults") or {}), expanded=True)
    st.caption("Capabilities")
    st.json(visible_json(preview.picked_row.get("capabilities") or {}), expanded=True)


# ─── Reordering one slot (Routing preview) ─────────────────────────────────────────────────
# A slot may hold thousands of models: the order is edited as data (a list of ids in session state), shown a page
# at a time in one grid whose Position column moves a model anywhere, never as a row of widgets per model.
PAGE_ROWS = 50
_GRID = "_reorder_grid"  # the grid as last drawn: its slot, its round (part of its key) and the ids of its rows


def _reorder_key(modality: str, task: str) -> str:
    return f"_reorder_{modality}/{task}"


def _grid_key(round_: int) -> str:
    return f"reorder_grid_{round_}"


def _order_state(key: str, ids: list[str]) -> dict[str, list[str]]:
    """The order being edited and the models it started from, as id texts (hashed once, where a UUID hashes in
    Python on every lookup); started afresh if missing or malformed."""
    state = st.session_state.get(key)
    if not (isinstance(state, dict) and all(_texts(state.get(k)) for k in ("order", "expected"))):
        state = {"order": list(ids), "expected": list(ids)}
        st.session_state[key] = state
    return state


def _texts(values: Any) -> bool:
    """Whether values is a list of texts (the session state can hold anything)."""
    return isinstance(values, list) and all(isinstance(v, str) for v in values)


def _grid(slot: str) -> dict[str, Any]:
    """The grid's state for this slot; a grid left from another slot (or malformed) is dropped with its edits."""
    grid = st.session_state.get(_GRID)
    if isinstance(grid, dict) and isinstance(grid.get("round"), int) and isinstance(grid.get("ids"), list):
        if grid.get("slot") == slot:
            return grid
        _new_grid(grid)
    grid = {"slot": slot, "round": grid["round"] if isinstance(grid, dict) else 0, "ids": []}
    st.session_state[_GRID] = grid
    return grid


def _new_grid(grid: dict[str, Any]) -> None:
    """Forget the grid's edits and draw it under a new key, so the browser starts it afresh too."""
    st.session_state.pop(_grid_key(grid["round"]), None)
    grid["round"] += 1


def _whole(value: Any) -> int | None:
    """A whole number from the grid's state (which can hold anything), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdecimal() and len(value.strip()) < 10:
        return int(value.strip())
    return None


def _apply_moves(grid: dict[str, Any], state: dict[str, list[str]]) -> None:
    """Move each model whose Position was typed in the grid as last drawn to that place, then start a new grid (also
    after an edit that moves nothing: the grid's state can hold anything, and only a fresh grid is sure to draw)."""
    key = _grid_key(grid["round"])
    if key not in st.session_state:
        return
    edits = st.session_state[key]
    rows = edits.get("edited_rows") if isinstance(edits, dict) else None
    if isinstance(rows, dict) and not rows and not edits.get("added_rows") and not edits.get("deleted_rows"):
        return  # drawn, not edited
    places = {}
    for row, change in rows.items() if isinstance(rows, dict) else ():
        index, place = _whole(row), _whole(change.get("Position") if isinstance(change, dict) else None)
        if index is not None and 0 <= index < len(grid["ids"]) and place is not None:
            places[grid["ids"][index]] = place
    state["order"] = moved_to(state["order"], places)
    _new_grid(grid)


def _forget_order(key: str, slot: str) -> None:
    st.session_state.pop(key, None)
    _new_grid(_grid(slot))


def _page(pages: int) -> int:
    """The page of the grid to show (a number input when there is more than one), within 1..pages."""
    if pages == 1:
        return 1
    current = _whole(st.session_state.get("reorder_page"))
    if current is None or not 1 <= current <= pages:
        st.session_state["reorder_page"] = 1 if current is None or current < 1 else pages
    return int(st.number_input("Page", min_value=1, max_value=pages, step=1, key="reorder_page"))


def _render_order_grid(grid: dict[str, Any], ids: list[str], shown: list[Row], after: list[Row]) -> None:
    """One page of the order being edited (of the models the search finds), with an editable Position column."""
    find, page_col = st.columns([3, 1], vertical_alignment="bottom")
    with find:
        text = st.text_input(
            "Find models to move", key="reorder_find", max_chars=200, placeholder="Name, provider or model id"
        )
    places = [
        n
        for n, m in enumerate(shown)
        if not text.strip() or found_in(text, m["display_name"], m["provider_name"], m.get("model_key", ""))
    ]
    with page_col:
        page = _page(max(1, -(-len(places) // PAGE_ROWS)))
    rows = places[(page - 1) * PAGE_ROWS : page * PAGE_ROWS]
    grid["ids"] = [ids[n] for n in rows]
    if not rows:
        st.caption(md_escape(f"No model of this slot matches “{text.strip()}”."))
        return
    frame = pd.DataFrame(
        {
            "Position": [n + 1 for n in rows],
            "Model": [shown[n]["display_name"] for n in rows],
            "Provider": [shown[n]["provider_name"] for n in rows],
            "Priority": [_priority_words(shown[n]["priority"], after[n]["priority"]) for n in rows],
            "State": [_state_words(shown[n]) for n in rows],
        }
    )
    st.data_editor(
        visible_frame(frame),
        key=_grid_key(grid["round"]),
        hide_index=True,
        width="stretch",
        disabled=["Model", "Provider", "Priority", "State"],
        column_config={
            "Position": st.column_config.NumberColumn(
                "Position",
                help="Type a new position to move the model there; the others make room",
                min_value=1,
                max_value=len(shown),
                step=1,
                required=True,
            ),
            "Priority": st.column_config.TextColumn("Priority", help="Now, and → after saving when it changes"),
            "State": st.column_config.TextColumn("State", width="large"),  # "provider … inactive" whole
        },
    )
    matched = f" of the {len(places):,} that match" if len(places) < len(shown) else ""
    st.caption(
        f"Models at positions {rows[0] + 1:,}–{rows[-1] + 1:,}{matched}, of {len(shown):,} in this slot. "
        f"Type a new position (1 to {len(shown):,}) to move a model there."
    )


def _priority_words(now: int, then: int) -> str:
    return f"{now}" if now == then else f"{now} → {then}"


def _state_words(model: Row) -> str:
    words = [w for w in ("default" if model["is_default"] else "", exclusion_reason(model) or "") if w]
    return " · ".join(words)


def render_reorder(modality: str, task: str, models: list[Row]) -> None:
    """The slot's models (every one, in routing order) in the order being edited, a page at a time with a search,
    each movable by its position; a preview of the pick in the new order, Save order (after the review) and Reset."""
    ctx = context()
    slot = f"{modality}/{task}"
    st.subheader("Reorder")
    st.caption(
        "Type a model's new position to move it, then save. Lower priority numbers are preferred; saving changes "
        "only the numbers the new order needs, and every other model keeps its own. Inactive models keep their "
        "place too, for when they are activated."
    )
    if not models:
        st.caption("This slot has no models.")
        return
    key = _reorder_key(modality, task)
    ids = [str(m["id"]) for m in models]
    state = _order_state(key, ids)
    grid = _grid(slot)
    _apply_moves(grid, state)
    by_id = dict(zip(ids, models, strict=True))
    if state["expected"] != ids and set(state["expected"]) != set(ids):
        st.warning(
            md_escape(
                f"The models of {slot} changed since you started reordering (one was added, removed or "
                "moved). Reset to start again from the current list."
            ),
            icon=ICONS["warning"],
        )
    kept = [i for i in state["order"] if i in by_id]
    shown = [by_id[i] for i in kept]
    # The order routing follows now (ties broken by default and name) needs no saving, even with equal numbers.
    unchanged = kept == ids
    after = shown if unchanged else renumbered(models, [m["id"] for m in shown])
    _render_order_grid(grid, kept, shown, after)
    now = pick(models)
    then = now if unchanged else pick(after)
    if then is None:
        st.error(
            md_escape(f"No model of {slot} can take jobs, in any order: activate one, or its provider."),
            icon=ICONS["error"],
        )
    elif now is not None and now["id"] == then["id"]:
        st.info(md_escape(f"Jobs of {slot} still go to {then['display_name']}."), icon=ICONS["info"])
    else:
        st.info(
            md_escape(
                f"After saving, jobs of {slot} go to {then['display_name']}"
                + (f" instead of {now['display_name']}." if now else ".")
            ),
            icon=ICONS["info"],
        )
    note = "" if unchanged else renumbering_note(models, [m["id"] for m in shown], after=after)
    if note:
        st.caption(md_escape(note))
    save, reset = st.columns(2)
    reset.button("Reset", key="reorder_reset", on_click=_forget_order, args=(key, slot), width="stretch")
    pending = f"_reorder_review_{slot}"
    if save.button("Save order", key="reorder_save", type="primary", disabled=unchanged, width="stretch"):
        st.session_state[pending] = list(state["order"])
    if unchanged or st.session_state.get(pending) != state["order"]:
        st.session_state.pop(pending, None)  # nothing to save, or the order moved on since: review again
        return
    answer = impact_review(
        "reorder_confirm",
        slot_impact(slot, models, after),
        action_label="Save this order",
        prompt=f"Save this order of {slot}? {note}".strip(),
        traffic=TrafficService(ctx.engine, user_id=ctx.identity.user_id).estimate(models, after),
    )
    if answer is False:
        st.session_state.pop(pending, None)
        st.rerun()
    if not answer:
        return
    st.session_state.pop(pending, None)
    try:
        changed = ctx.bulk.reorder(modality, task, state["order"], expected_ids=state["expected"])
    except ServiceError as exc:
        show_error(exc)
        return
    cached.clear()
    _forget_order(key, slot)
    flash(
        f"Saved the order of {slot}: {changed} priorit{'ies' if changed != 1 else 'y'} changed."
        + (f" Jobs now go to {then['display_name']}." if then else "")
    )
    st.rerun()
