"""Reads of the whole catalogue kept across its data versions: after a write, only what it touched is read again.

A cached read keyed by the data version (ui/cached.py) misses on the first click after any write, and a read of
every model pays the catalogue's per-row policy on all of them (at 10,000 models about 190 ms for the Usage page's
catalogue). Here each such read is also kept per database, name and reader as of the last settled count it
reflects; the next version's read is that one brought up to date by a partial read (services/catalogue_changes.py),
which reads only the rows the writes since touched, under RLS as ever. Whole reads remain for what the log cannot
say, for a version with a write still in flight (kept reads move only from settled counts), and every _MAX_AGE
seconds, as the cached reads' own expiry did. One read per key at a time: a run that asks while another reads the
same key (the landing's warmup, another session) waits for that read and takes its value.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import streamlit as st

from dashboard.ui.context import CacheVersion

T = TypeVar("T")
_MAX_AGE = 600  # seconds: a kept read older than this is read whole again
_MOST_KEPT = 32  # kept reads per process (database x name x reader), the least recently used dropped first


@dataclass(frozen=True)
class _Kept:
    writes: int  # the settled count the value reflects
    epoch: str | None  # the change log's, read before the whole read (None: partial reads are not for this reader)
    since: float  # when it was last read whole (time.monotonic)
    value: Any


@st.cache_resource(show_spinner=False)
def _store() -> tuple[threading.Lock, OrderedDict[tuple, _Kept]]:
    return threading.Lock(), OrderedDict()


@st.cache_resource(show_spinner=False)
def _reading() -> tuple[threading.Lock, dict[tuple, threading.RLock]]:
    """A lock per key, held while that key is read: a run that asks for a read under way (a warmup's, another
    session's) waits for it and takes its value rather than reading the same rows again beside it. One per key the
    process has read (database, what, reader): a handful, or one per person where policies differ per person."""
    return threading.Lock(), {}


def _key_lock(key: tuple) -> threading.RLock:
    lock, locks = _reading()
    with lock:
        return locks.setdefault(key, threading.RLock())


def holds(key: tuple, version: CacheVersion) -> bool:
    """Whether refreshed(key, version, ...) would start from a kept value (no whole read): one is kept and young."""
    writes, settled, admin = version
    lock, store = _store()
    with lock:
        kept = store.get((*key, admin))
    return settled and _usable(kept, writes)


def _usable(kept: _Kept | None, writes: int) -> bool:
    """Whether a kept read can serve the settled count writes, as it is or brought up to date: young enough, and of
    that count or an earlier one."""
    return kept is not None and kept.writes <= writes and time.monotonic() - kept.since < _MAX_AGE


def clear() -> None:
    lock, kept = _store()
    with lock:
        kept.clear()


def refreshed(
    key: tuple,
    version: CacheVersion,
    *,
    epoch: Callable[[], str | None],
    whole: Callable[[], T],
    partial: Callable[[T, int, str], T | None],
) -> T:
    """The read named by key (database, what, reader) as of version. The kept value when its count is this one;
    else partial(kept value, its count, the log's epoch then), which returns None when only a whole read can say;
    else the change log's epoch() then whole(). At an unsettled version (a write in flight), whole() once for that
    count, kept apart: never the base of a later partial read. The value returned is shared: callers never change
    it."""
    writes, settled, admin = version
    key = (*key, admin)
    lock, store = _store()
    if not settled:  # a write in flight: read whole once for this count, kept apart, never brought up to date
        return _unsettled(lock, store, (*key, "unsettled"), writes, whole)
    with _key_lock(key):  # a read of this key under way: wait for it, then take its value
        with lock:
            kept = store.get(key)
        value: T | None = None
        if _usable(kept, writes):
            if kept.writes == writes:
                value = kept.value
            elif kept.epoch is not None:
                value = partial(kept.value, kept.writes, kept.epoch)
        if value is not None:
            mark, since = kept.epoch, kept.since
        else:
            mark, since = epoch(), time.monotonic()
            value = whole()
        _keep(lock, store, key, _Kept(writes, mark, since, value))
        return value


def _unsettled(lock: threading.Lock, store: OrderedDict[tuple, _Kept], key: tuple, writes: int, whole: Callable):
    with lock:
        kept = store.get(key)
    if kept is not None and kept.writes == writes and time.monotonic() - kept.since < _MAX_AGE:
        return kept.value
    value = whole()
    _keep(lock, store, key, _Kept(writes, None, time.monotonic(), value))
    return value


def _keep(lock: threading.Lock, store: OrderedDict[tuple, _Kept], key: tuple, kept: _Kept) -> None:
    with lock:
        store[key] = kept
        store.move_to_end(key)
        while len(store) > _MOST_KEPT:
            store.popitem(last=False)
