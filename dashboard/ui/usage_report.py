"""The Usage page's data: the catalogue side kept per reader across data versions, the counts read on every click.

Counting is cheap (the rollups); what cost most at 10,000 models was everything around it: every model's names,
provider and pricing JSON read and decoded, and a cost basis worked out per model, on every click. That side
changes only when the catalogue does, so it is kept per reader (ui/cached.py's `reader()`: one for all admins where
the policies show each of them the same rows, else one per person), with the cost bases worked out and the JSON
left behind, and after a write only the models it touched are read again (ui/kept_reads.py). The counts are still
read at every click, for the models the filters keep: exact at every click.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.services.catalogue_changes import brought_up_to_date
from dashboard.services.spend import cost_bases
from dashboard.services.usage import UsageFilters, UsageRange, UsageService
from dashboard.ui import cached, kept_reads, model_search
from dashboard.ui.context import CacheVersion, Context, context

MODEL_MATCHES = model_search.MATCHES  # how many models the model filter offers for what was typed (one rule)
DEFAULT_RANGE = "30d"  # the range the page opens on


def catalogue() -> pd.DataFrame:
    """Every model this person may see: ids, names, provider, modality, task, active, the cost of one job
    (spend.BASIS_COLUMNS) and a search text; kept per reader and brought up to date after a write (ui/kept_reads.py).
    One frame shared by every click and session, not a copy each: nothing may change it (filters and the report
    make frames of their own)."""
    ctx = context()
    return _catalogue(ctx.usage, cached.reader(), ctx.cache_version)


def report(period: UsageRange, filters: UsageFilters) -> tuple[pd.DataFrame, pd.DataFrame]:
    """UsageService.report for the cached catalogue: (per model, per day), counted now."""
    return context().usage.report(period, filters, catalogue=catalogue())


def recent_jobs() -> tuple[int, float | None]:
    """The Overview's jobs of the last 30 days and their failure rate, for the models this person sees, counted at
    most a minute ago (job counts move without the catalogue changing). A count reads only today and the deltas: the
    range's past is the copy the page's own 30 days keep (usage_past). The models are the kept catalogue's when one
    is kept (brought up to date after a write, as the Usage page's), else the ids the count reads itself: at 10,000
    models about 60 ms, against 150-300 ms for the whole catalogue a first Overview then waited for (a server
    process's first sign-in); the landing's warmup reads the catalogue once the page is drawn (landing_warmup)."""
    ctx = context()
    return _recent_jobs(ctx.user_key, cached.job_reader(), ctx.identity.is_admin)


@st.cache_data(ttl=60, show_spinner=False, max_entries=128)
def _recent_jobs(_actor: str, reader: str, admin: bool) -> tuple[int, float | None]:
    ctx = context()
    kept = catalogue() if _catalogue_kept(ctx) else None
    return ctx.catalogue.recent_jobs(usage=ctx.usage, catalogue=kept)


def read_first_view() -> None:
    """Read what the page opens on (its catalogue, kept per reader, and the past of its default range, kept per
    database): dashboard/ui/landing_warmup.py does, while an admin reads the Overview."""
    report(UsageRange.preset(DEFAULT_RANGE), UsageFilters())


def _catalogue(service: UsageService, reader: str, version: CacheVersion) -> pd.DataFrame:
    def partial(kept: pd.DataFrame, writes: int, epoch: str) -> pd.DataFrame | None:
        changes = service.catalogue_since(writes, epoch)
        if changes is None:
            return None
        fresh, changed = changes
        return _ordered(brought_up_to_date(kept, _framed(fresh), changed, key="model_id"))

    return kept_reads.refreshed(
        _catalogue_key(service, reader),
        version,
        epoch=service.changes_epoch,
        whole=lambda: _ordered(_framed(service.catalogue())),
        partial=partial,
    )


def _catalogue_kept(ctx: Context) -> bool:
    """Whether catalogue() would start from a kept read (no whole read of every model)."""
    return kept_reads.holds(_catalogue_key(ctx.usage, cached.reader()), ctx.cache_version)


def _catalogue_key(service: UsageService, reader: str) -> tuple:
    return (service.read_engine.url.render_as_string(hide_password=True), "usage catalogue", reader)


def _framed(models: pd.DataFrame) -> pd.DataFrame:
    """The catalogue's rows as the page uses them: the cost of one job in place of the JSON, a label, a search text."""
    bases = cost_bases(models["pricing"], models["input_defaults"])
    frame = pd.concat([models.drop(columns=["pricing", "input_defaults"]), bases], axis=1)
    frame["label"] = frame["display_name"] + " (" + frame["provider_name"] + ")"
    frame["search"] = frame["label"].str.casefold()
    return frame


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["display_name", "provider_name", "model_id"], kind="stable").reset_index(drop=True)


def find_models(models: pd.DataFrame, text: str, *, limit: int = MODEL_MATCHES) -> pd.DataFrame:
    """The models whose name or provider holds text (any case; text is taken literally), by name, at most limit."""
    wanted = text.strip().casefold()
    return (models[models["search"].str.contains(wanted, regex=False)] if wanted else models).head(limit)
