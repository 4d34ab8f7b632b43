"""The web server's garbage collector settings (dashboard/ui/memory.py)."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from dashboard.ui import memory


@pytest.fixture
def restored():
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_settle_freezes_what_is_alive_and_lets_the_young_generation_grow(restored):
    gc.unfreeze()
    memory.settle()
    assert gc.get_freeze_count() > 100_000  # Streamlit, pandas, Plotly and the services, out of the collector's sight
    assert gc.get_threshold() == (memory.YOUNG, memory.OLDER, memory.OLDER)
    garbage = [[] for _ in range(10)]
    for cycle in garbage:
        cycle.append(cycle)  # cycles made after settle() are still collected
    del garbage, cycle
    assert gc.collect() >= 10


def test_the_web_server_settles_the_collector_at_start():
    """Loading the server module (as `streamlit run dashboard/ui/server.py` does) sets the collector, in a process
    of its own."""
    shown = subprocess.run(
        [sys.executable, "-c", "import gc, dashboard.ui.server; print(*gc.get_threshold(), gc.get_freeze_count())"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.split()
    assert [int(n) for n in shown[:3]] == [memory.YOUNG, memory.OLDER, memory.OLDER] and int(shown[3]) > 100_000
