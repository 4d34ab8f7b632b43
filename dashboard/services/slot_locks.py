"""One lock order for every writer of the catalogue, so that concurrent writers queue instead of deadlocking.

Each transaction that writes api_models takes, in this order:
1. the table, in the mode its writes need: ROW EXCLUSIVE for writers of some rows (what their UPDATE would
   take anyway, taken first), SHARE ROW EXCLUSIVE for an import, which holds off every other writer while it
   plans and writes;
2. the default slots (modality, task) it may touch, each once, in sorted order (advisory, for the
   transaction; taking one again is a no-op);
3. the rows, FOR UPDATE, in id order.
Before this, an import took the table and then a slot while a "make default" held that slot and waited for
the table: PostgreSQL broke the cycle by failing one of them.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

_LOCK_SLOT = sa.text("select pg_advisory_xact_lock(hashtextextended('default:' || :modality || '/' || :task, 0))")
_ROWS = sa.text("lock table api_models in row exclusive mode")
_WHOLE_TABLE = sa.text("lock table api_models in share row exclusive mode")


def lock_for_writing(conn: Connection, slots: Iterable[tuple[str, str]] = (), *, whole_table: bool = False) -> None:
    """Steps 1 and 2 above: the table, then these slots; the caller locks its rows next."""
    conn.execute(_WHOLE_TABLE if whole_table else _ROWS)
    lock_slots(conn, slots)


def lock_slots(conn: Connection, slots: Iterable[tuple[str, str]]) -> None:
    """Step 2 alone, for a transaction that already holds the table (a slot it holds already is a no-op)."""
    for modality, task in sorted({(str(m), str(t)) for m, t in slots}):
        conn.execute(_LOCK_SLOT, {"modality": modality, "task": task})
