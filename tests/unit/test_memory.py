"""The web server's garbage collector settings (dashboard/ui/memory.py)."""

from __future__ import annotations

import gc
import os
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


def test_the_served_app_runs_no_full_collection_after_each_run_and_watches_no_source_files():
    """Streamlit's own defaults, turned off in the app's config (read from the folder `python -m dashboard run`
    serves from): a full collection after every run (115-200 ms a click with the reads kept), and a watcher that
    walked every loaded module on the event loop after a new session's first run."""
    from dashboard.starting import REPO

    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "from streamlit import config; config.get_config_options(force_reparse=True); "
            "print(config.get_option('runner.postScriptGC'), config.get_option('server.fileWatcherType'))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")},
    ).stdout.split()
    assert shown == ["False", "none"]
