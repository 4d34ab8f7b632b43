"""Run calls at the same instant in threads, to drive real concurrent transactions."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any


def run_together(call: Callable[[Any], Any], arguments: Sequence[Any]) -> tuple[list[Any], list[BaseException]]:
    """Call call(arg) for each arg in its own thread, all released together; return results and errors."""
    barrier = threading.Barrier(len(arguments))
    results: list[Any] = []
    errors: list[BaseException] = []

    def worker(argument: Any) -> None:
        barrier.wait()
        try:
            results.append(call(argument))
        except Exception as exc:  # collected for the caller's assertion
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(a,)) for a in arguments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors
