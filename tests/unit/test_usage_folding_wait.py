"""usage_folding.wait_for_background_folds: what a warmup and the benchmarks wait on after a read met a backlog."""

from __future__ import annotations

import threading

from dashboard.services import usage_folding


def test_nothing_under_way_is_no_wait():
    assert usage_folding.wait_for_background_folds(5) is False


def test_a_fold_that_ends_is_waited_for():
    release = threading.Event()
    usage_folding.fold_in_background(-1, lambda: release.wait(5) and 0)
    threading.Timer(0.2, release.set).start()
    assert usage_folding.wait_for_background_folds(5) is True
    assert usage_folding.wait_for_background_folds(5) is False  # over


def test_a_fold_still_running_at_the_timeout_is_not_waited_for_longer():
    release = threading.Event()
    usage_folding.fold_in_background(-2, lambda: release.wait(5) and 0)
    try:
        assert usage_folding.wait_for_background_folds(0.1) is False
    finally:
        release.set()
    assert usage_folding.wait_for_background_folds(5) is True


def test_a_fold_that_fails_still_ends_the_wait():
    def fold() -> int:
        raise RuntimeError("connection lost")

    usage_folding.fold_in_background(-3, fold)
    usage_folding.wait_for_background_folds(5)
    assert usage_folding.wait_for_background_folds(0) is False
