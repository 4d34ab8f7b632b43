"""Settings, read once at the edge from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dashboard import APP_NAME


def default_data_dir() -> Path:
    """Where the embedded server keeps its data when DASHBOARD_DATA_DIR is not set."""
    # Run as root, the embedded server opens g+rx,o+rx on every parent of its data directory so that
    # its own system user can reach it; under /var/lib the parents are already world-traversable,
    # whereas under a home directory it would open a private /root to everyone.
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib") / APP_NAME
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def _whole(text: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts '²', which int() refuses."""
    return text.isascii() and text.isdigit() and len(text) <= 6


@dataclass(frozen=True)
class Settings:
    """What the app reads from its environment."""

    database_url: str | None
    data_dir: Path
    idle_minutes: int = 30
    read_database_url: str | None = None  # a read replica for the heavy usage reads
    session_hours: int = 12  # a session ends this long after sign-in, however active
    secure_cookies: bool = False  # always mark the session cookie Secure (else only when the request was HTTPS)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        url = (env.get("DATABASE_URL") or "").strip() or None
        read_url = (env.get("DATABASE_READ_URL") or "").strip() or None
        data_dir = (env.get("DASHBOARD_DATA_DIR") or "").strip()
        idle = str(env.get("DASHBOARD_IDLE_MINUTES") or "").strip()
        hours = str(env.get("DASHBOARD_SESSION_HOURS") or "").strip()
        secure = str(env.get("DASHBOARD_SECURE_COOKIES") or "").strip().lower()
        return cls(
            database_url=url,
            data_dir=Path(data_dir).expanduser() if data_dir else default_data_dir(),
            idle_minutes=int(idle) if _whole(idle) and 0 < int(idle) <= 24 * 60 else 30,
            # Without a primary URL the app runs on its embedded server, which has no replica.
            read_database_url=read_url if url else None,
            session_hours=int(hours) if _whole(hours) and 0 < int(hours) <= 24 * 30 else 12,
            secure_cookies=secure in ("1", "true", "yes", "on"),
        )
