"""When a kept read of the whole catalogue is served, brought up to date, or read whole again (ui/kept_reads.py)."""

from __future__ import annotations

import pytest

from dashboard.ui import kept_reads


class Reads:
    """Stands in for the database: counts whole and partial reads, and answers partial ones as told."""

    def __init__(self, epoch: str | None = "epoch-1") -> None:
        self.epoch, self.wholes, self.partials, self.answer = epoch, 0, [], "partial"

    def read(self, key: tuple, version: tuple[int, bool, bool]) -> str:
        return kept_reads.refreshed(key, version, epoch=lambda: self.epoch, whole=self.whole, partial=self.partial)

    def whole(self) -> str:
        self.wholes += 1
        return f"whole {self.wholes}"

    def partial(self, kept: str, writes: int, epoch: str) -> str | None:
        self.partials.append((kept, writes, epoch))
        return None if self.answer is None else f"{kept} + since {writes}"


@pytest.fixture(autouse=True)
def _empty():
    kept_reads.clear()
    yield
    kept_reads.clear()


KEY = ("database", "usage catalogue", "role:admin")


def test_a_settled_read_is_kept_and_brought_up_to_date_from_its_count():
    reads = Reads()
    assert reads.read(KEY, (5, True, True)) == "whole 1"
    assert reads.read(KEY, (5, True, True)) == "whole 1" and reads.partials == []  # same count: kept as it is
    assert reads.read(KEY, (7, True, True)) == "whole 1 + since 5"
    assert reads.partials == [("whole 1", 5, "epoch-1")]
    assert reads.read(KEY, (9, True, True)) == "whole 1 + since 5 + since 7"  # from the last count brought to
    assert reads.wholes == 1


def test_a_count_with_a_write_in_flight_is_read_whole_once_and_never_brought_up_to_date():
    reads = Reads()
    reads.read(KEY, (5, True, True))
    assert reads.read(KEY, (6, False, True)) == "whole 2" and reads.partials == []
    assert reads.read(KEY, (6, False, True)) == "whole 2"  # the same count, still in flight: read once
    assert reads.read(KEY, (6, True, True)) == "whole 1 + since 5"  # once settled, from the last settled count
    assert reads.read(KEY, (7, False, True)) == "whole 3"


def test_whatever_the_log_cannot_say_is_read_whole():
    reads = Reads()
    reads.read(KEY, (5, True, True))
    reads.answer = None  # pruned, another epoch, a provider's write, too many models
    assert reads.read(KEY, (6, True, True)) == "whole 2"
    assert reads.read(KEY, (4, True, True)) == "whole 3"  # a count gone back (a restore): never brought forward
    assert len(reads.partials) == 1


def test_a_reader_who_may_not_read_the_log_is_always_read_whole():
    reads = Reads(epoch=None)
    for writes in (5, 6, 7):
        reads.read(KEY, (writes, True, False))
    assert reads.wholes == 3 and reads.partials == []


def test_each_database_reader_and_role_keeps_its_own_and_old_reads_are_read_whole(monkeypatch):
    reads, clock = Reads(), [1_000.0]
    monkeypatch.setattr(kept_reads.time, "monotonic", lambda: clock[0])
    reads.read(KEY, (5, True, True))
    assert reads.read(("other database", *KEY[1:]), (6, True, True)) == "whole 2"
    assert reads.read((*KEY[:2], "role:user"), (6, True, True)) == "whole 3"
    assert reads.read(KEY, (6, True, False)) == "whole 4"  # the role as the database answered it this click
    clock[0] += kept_reads._MAX_AGE
    assert reads.read(KEY, (7, True, True)) == "whole 5"  # as old as a cached read's expiry: read whole
    assert reads.read(KEY, (8, True, True)) == "whole 5 + since 7"


def test_a_read_under_way_is_waited_for_not_read_again_beside_it():
    """A warmup reading the catalogue when a page's run asks for it: the run waits and takes that read's value."""
    import threading

    started, release = threading.Event(), threading.Event()
    reads = Reads()

    def slow_whole() -> str:
        started.set()
        release.wait(5)
        return reads.whole()

    first: list[str] = []
    warmup = threading.Thread(
        target=lambda: first.append(
            kept_reads.refreshed(KEY, (5, True, True), epoch=lambda: "epoch-1", whole=slow_whole, partial=reads.partial)
        )
    )
    warmup.start()
    assert started.wait(5)
    second: list[str] = []
    page = threading.Thread(target=lambda: second.append(reads.read(KEY, (5, True, True))))
    page.start()
    page.join(0.2)
    assert page.is_alive()  # waiting for the read under way
    release.set()
    warmup.join(5)
    page.join(5)
    assert first == second == ["whole 1"] and reads.wholes == 1


def test_reads_of_other_keys_do_not_wait_for_each_other():
    import threading

    release = threading.Event()
    reads = Reads()
    warmup = threading.Thread(
        target=lambda: kept_reads.refreshed(
            KEY, (5, True, True), epoch=lambda: "e", whole=lambda: release.wait(5) and "slow", partial=reads.partial
        )
    )
    warmup.start()
    try:
        assert reads.read((*KEY[:2], "user-1"), (5, True, False)) == "whole 1"  # at once, another reader's
    finally:
        release.set()
        warmup.join(5)


def test_holds_says_whether_a_read_would_start_from_a_kept_value(monkeypatch):
    reads = Reads()
    assert not kept_reads.holds(KEY, (5, True, True))
    reads.read(KEY, (5, True, True))
    assert kept_reads.holds(KEY, (5, True, True)) and kept_reads.holds(KEY, (8, True, True))  # kept, or brought on
    assert not kept_reads.holds(KEY, (4, True, True))  # an older count than the kept one
    assert not kept_reads.holds(KEY, (6, False, True))  # a write in flight: read whole
    assert not kept_reads.holds(KEY, (5, True, False))  # another reader's
    assert not kept_reads.holds((*KEY[:2], "someone"), (5, True, True))
    later = kept_reads.time.monotonic() + kept_reads._MAX_AGE
    monkeypatch.setattr(kept_reads.time, "monotonic", lambda: later)
    assert not kept_reads.holds(KEY, (5, True, True))  # too old: read whole again
    assert reads.wholes == 1
