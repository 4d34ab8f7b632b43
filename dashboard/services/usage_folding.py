"""When usage reads fold the delta backlog first, read jobs instead, or just read: the rule behind "fast in every
state", in the service layer so that every reader (the pages, the CLI, a worker holding a ModelService) follows it.

Reading a pending delta costs less than folding it: 1.5-1.7 µs against 2.2 µs on the demo's 32 models, and 16 µs
with 10M jobs spread over 10,000 models, where a fold updates rollup rows scattered over a large index (the first
fold after a day with no dashboard running, 166,668 deltas, took 2.7 s there). After a fold the rows are gone at
once (migration 0013 truncates what it folds), and reads go on beside a fold (migration 0024). So an admin's read
looks at the backlog's size first, which costs nothing whatever it is:
- small (under FOLD_ABOVE_BYTES, about ten thousand deltas): read; a fold would cost more than it saves;
- larger, up to a share of jobs' own size (JOBS_INSTEAD_SHARE): read the deltas with the rollups, then fold in the
  background, so that later reads are fast; this read pays for reading the backlog, never for folding it (folding
  first made the first click after that day take 4 s instead of 0.7 s);
- larger still (a bulk backfill nobody has folded): reading the deltas would cost more than the seed's query, so
  read jobs directly (what the seed's query costs) and fold in the background, so that the next read is fast.
Sizes, not row counts: a delta row and a job row are of similar size, and a size is free to ask.
A long-lived process (the app, a worker) also folds every KEEP_FOLDED_SECONDS in a background thread, started by
its first admin read, so that reads rarely meet a backlog at all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Source = Literal["rollups", "jobs", "own"]
FOLD_ABOVE_BYTES = 1 << 20  # ~10,000 deltas of ~100 bytes
JOBS_INSTEAD_SHARE = 0.25  # a delta is read in ~1.5-1.7 µs, a job counted by the seed's query in ~0.5-1 µs
KEEP_FOLDED_SECONDS: float | None = 60.0  # None: no periodic folding (the tests turn it off)
FREE_TRIES, FREE_PAUSE_SECONDS = 3, 0.5  # folds again after a fold that could only delete (fold_until_freed)


@dataclass(frozen=True)
class Backlog:
    """What a read would go through besides the rollups, and who is asking."""

    pending_bytes: int
    jobs_bytes: int
    admin: bool


@dataclass(frozen=True)
class Decision:
    source: Source
    fold_in_background: bool = False


def decide(backlog: Backlog) -> Decision:
    """The rule above, as a pure function of the backlog."""
    if not backlog.admin:
        return Decision("own")  # their own jobs under RLS; they fold nothing
    if backlog.pending_bytes <= FOLD_ABOVE_BYTES:
        return Decision("rollups")
    if backlog.pending_bytes > JOBS_INSTEAD_SHARE * backlog.jobs_bytes:
        return Decision("jobs", fold_in_background=True)
    return Decision("rollups", fold_in_background=True)


_lock = threading.Lock()
_ended = threading.Condition(_lock)  # notified when a one-off background fold ends
_running: set[int] = set()  # engines with a one-off background fold under way
_keepers: dict[int, threading.Thread] = {}  # engines with a periodic folder


def wait_for_background_folds(timeout: float) -> bool:
    """Wait, timeout seconds at most, for the one-off background folds under way in this process to end: whether
    one was under way and every one ended."""
    with _ended:
        if not _running:
            return False
        return _ended.wait_for(lambda: not _running, timeout)


def fold_in_background(key: int, fold: Callable[[], int]) -> None:
    """Run fold() once in a daemon thread, unless one is already running for this engine."""
    with _lock:
        if key in _running:
            return
        _running.add(key)

    def run() -> None:
        try:
            fold()
        except Exception:  # noqa: BLE001 — a lost connection or a revoked role: the next read tries again
            pass
        finally:
            with _ended:
                _running.discard(key)
                _ended.notify_all()

    threading.Thread(target=run, name="usage-fold-once", daemon=True).start()


def fold_until_freed(fold: Callable[[], int], held_bytes: Callable[[], int]) -> int:
    """fold(), then again while held_bytes() (what the delta tables hold, dead rows included) is over
    FOLD_ABOVE_BYTES, FREE_PAUSE_SECONDS apart and FREE_TRIES times at most; returns the rows folded. A fold that
    found a report holding its table when it came to truncate it deleted the rows instead (migration 0024), and every
    read scans dead rows until a fold truncates them: a background fold racing the clicks that started it often
    does."""
    folded = fold()
    for _ in range(FREE_TRIES):
        if held_bytes() <= FOLD_ABOVE_BYTES:
            break
        time.sleep(FREE_PAUSE_SECONDS)
        folded += fold()
    return folded


def keep_folded(key: int, fold: Callable[[], int]) -> None:
    """Fold every KEEP_FOLDED_SECONDS in a daemon thread for this engine, from now until the process exits."""
    every = KEEP_FOLDED_SECONDS
    if every is None:
        return
    with _lock:
        if key in _keepers and _keepers[key].is_alive():
            return

        def run() -> None:
            while True:
                time.sleep(every)
                try:
                    fold()
                except Exception:  # noqa: BLE001 — as above; a daemon thread must not die of it
                    pass

        _keepers[key] = threading.Thread(target=run, name="usage-keep-folded", daemon=True)
        _keepers[key].start()
