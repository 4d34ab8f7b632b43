"""A read of the whole catalogue brought up to date after a write by reading again only the models it touched.

Migration 0021 notes, per catalogue write, the ids of the models it inserted, updated or deleted (or that any may
have changed: a truncate, a provider's write). A reader holding the catalogue as of a settled count (see
CatalogueService.data_version) reads the ids written since, then those rows only, as the person under RLS: each
returned row replaces the kept one, and a changed id not returned is gone for this reader (deleted, or no longer
visible to it). The log's epoch, read before the whole read the changes are applied to, must be the same: a
database made again under the same name has another. Anything the log cannot say (changes pruned, any model may
have changed, more than MOST ids, a reader who may not read the log) is None: read everything, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa

from dashboard.queries import catalogue as q

Row = dict[str, Any]
MOST = 1_000  # more changed models than this: one read of the whole catalogue costs less than a list this long


def epoch(conn: sa.Connection) -> str | None:
    """The change log's epoch, to be read before a whole read that changes will later be applied to (None: this
    person may not read the log)."""
    return conn.execute(q.CHANGES_EPOCH).scalar()


@dataclass(frozen=True)
class Changes:
    """What the catalogue's writes since a count touched: the models' ids (as text) and their slots, before and
    after (modality, task)."""

    ids: frozenset[str]
    slots: frozenset[tuple[str, str]]


def changed_since(conn: sa.Connection, since: int, epoch: str, *, most: int = MOST) -> Changes | None:
    """What was written after the count since in the log of that epoch, or None when only a whole read can say."""
    row = conn.execute(q.CHANGED_SINCE, {"since": since, "most": most + 1}).first()
    if row is None or row.epoch != epoch or since < row.floor:
        return None
    ids = row.ids or []
    if len(ids) > most or any(i is None for i in ids):
        return None
    return Changes(frozenset(ids), frozenset((str(m), str(t)) for m, t in row.slots or []))


def by_slot_brought_up_to_date(kept: list[Row], fresh: list[Row], slots: frozenset[tuple[str, str]]) -> list[Row]:
    """Rows of a read by slot (modality, task), in each slot's order: kept's rows of the slots not written to, then
    fresh's (those slots read again, in their order). A slot fresh no longer has is gone."""
    if not slots:
        return kept
    return [row for row in kept if (str(row["modality"]), str(row["task"])) not in slots] + fresh


def brought_up_to_date(kept: pd.DataFrame, fresh: pd.DataFrame, changed: frozenset[str], *, key: str) -> pd.DataFrame:
    """A read of models: kept with every changed row dropped and fresh's rows (the changed rows the reader still
    sees) added; in no particular order. fresh holds changed rows only."""
    if not changed:
        return kept
    stale = kept[key].isin(changed)
    if not stale.any() and fresh.empty:
        return kept
    parts = [part for part in (kept[~stale], fresh[fresh[key].isin(changed)]) if not part.empty]
    return pd.concat(parts, ignore_index=True) if parts else kept.iloc[0:0]
