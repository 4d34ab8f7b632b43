"""The Models page's filters, kept in the URL's query parameters so a view can be shared and reloaded."""

from __future__ import annotations

from uuid import UUID

import streamlit as st

from dashboard.services.catalogue import MAX_SEARCH, SORTS, ModelFilters
from dashboard.services.validation import MODALITIES
from dashboard.text import visible
from dashboard.ui.url import init_state, sync_url, url_param

ALL = "All"
STATUSES = {"active": "Active", "inactive": "Inactive", "all": "All"}
PAGE_SIZES = (25, 50, 100, 200)


def task_select(column, modality: str, tasks: list[tuple[str, str]], *, key: str) -> str:
    """The task filter: the tasks of the chosen modality (or all), from the URL at first, All if it left."""
    options = sorted({t for m, t in tasks if modality in (ALL, m)})
    init_state(key, url_param("task", options, ALL))
    if st.session_state[key] not in (ALL, *options):
        st.session_state[key] = ALL
    return column.selectbox("Task", [ALL, *options], key=key, format_func=visible)


def render_filters(*, admin: bool, tasks: list[tuple[str, str]], providers: list[dict]) -> ModelFilters:
    """Filter widgets, initialised from the URL; return the filters and write them back to the URL."""
    provider_names = {str(p["id"]): p["display_name"] for p in providers}
    init_state("f_search", url_param("q")[:MAX_SEARCH].replace("\x00", ""))
    init_state("f_modality", url_param("modality", list(MODALITIES), ALL))
    init_state("f_provider", url_param("provider", list(provider_names), ALL))
    init_state("f_status", url_param("status", list(STATUSES), "all") if admin else "active")
    init_state("f_default", url_param("default") == "1")
    init_state("f_sort", url_param("sort", list(SORTS), "priority"))

    # In an expander, open at first: on a phone the filters stack above the table and can be folded away.
    with st.expander("Filters", expanded=True, icon=":material/filter_list:"):
        top = st.columns([3, 1.2, 1.6, 1.6])
        search = top[0].text_input(
            "Search", key="f_search", max_chars=MAX_SEARCH, placeholder="Name, model key or family"
        )
        modality = top[1].selectbox("Modality", [ALL, *MODALITIES], key="f_modality")
        task = task_select(top[2], modality, tasks, key="f_task")
        provider = top[3].selectbox(
            "Provider",
            [ALL, *provider_names],
            key="f_provider",
            format_func=lambda v: visible(provider_names.get(v, v)),
        )
        row = st.columns([1.6, 1.2, 2.2, 2], vertical_alignment="bottom")
        if admin:
            status = (
                row[0].segmented_control("Status", list(STATUSES), key="f_status", format_func=STATUSES.get) or "all"
            )
        else:
            status = "active"
        default_only = row[1].toggle("Defaults only", key="f_default")
        sort = row[2].selectbox("Sort by", list(SORTS), key="f_sort", format_func=SORTS.get)
        row[3].button(
            "Clear filters", key="f_clear", icon=":material/filter_alt_off:", on_click=clear_filters, args=(admin,)
        )

    filters = ModelFilters(
        search=search,
        modality=None if modality == ALL else modality,
        task=None if task == ALL else task,
        provider_id=None if provider == ALL else UUID(provider),
        status=status,
        default_only=default_only,
        sort=sort,
    )
    _write_to_url(filters)
    return filters


def clear_filters(admin: bool) -> None:
    """on_click of "Clear filters": every filter back to showing everything (the sort order stays)."""
    st.session_state.update({"f_search": "", "f_modality": ALL, "f_task": ALL, "f_provider": ALL, "f_default": False})
    if admin:
        st.session_state["f_status"] = "all"


def _write_to_url(filters: ModelFilters) -> None:
    wanted = {
        "q": filters.search.strip(),
        "modality": filters.modality or "",
        "task": filters.task or "",
        "provider": str(filters.provider_id or ""),
        "status": "" if filters.status == "all" else filters.status,
        "default": "1" if filters.default_only else "",
        "sort": "" if filters.sort == "priority" else filters.sort,
    }
    sync_url(wanted)
