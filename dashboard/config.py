"""Settings, read once at the edge from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dashboard import APP_NAME

if TYPE_CHECKING:
    from dashboard.services.health_rules import HealthThresholds


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


# The Health thresholds one may set (services.health_rules.HealthThresholds' fields), each as DASHBOARD_HEALTH_<NAME>,
# with its kind and the values accepted (both ends included); anything else keeps the default. Rates may be written
# as 0.25 or 25%.
HEALTH_SETTINGS: dict[str, tuple[type, float, float]] = {
    "min_jobs": (int, 1, 1_000_000),
    "failure_rate": (float, 0.001, 1.0),
    "failure_points": (float, 0.0, 1.0),
    "failure_factor": (float, 1.0, 1000.0),
    "stuck_minutes": (int, 1, 7 * 24 * 60),
    "min_stuck": (int, 1, 1_000_000),
    "latency_factor": (float, 1.0, 1000.0),
    "min_rated": (int, 1, 1_000_000),
    "rating_drop": (float, 0.01, 4.0),
}


def _decimal(text: str) -> float | None:
    """A plain decimal (0.25, 25%, .5) in ASCII, or None: no exponents, infinities, NaN or other digits."""
    percent = text.endswith("%")
    digits = text.removesuffix("%").strip()
    if not digits or len(digits) > 12 or not digits.isascii() or digits.count(".") > 1:
        return None
    if not digits.replace(".", "").isdigit():
        return None
    return float(digits) / (100 if percent else 1)


def health_settings(env: Mapping[str, object]) -> dict[str, int | float]:
    """The Health thresholds set in env (the environment, or the app's secrets) that make sense: the field name and
    its value, for HealthThresholds(**...). Nonsense (a negative count, 2.5 as a rate, text) is left out."""
    chosen: dict[str, int | float] = {}
    for name, (kind, low, high) in HEALTH_SETTINGS.items():
        text = str(env.get(f"DASHBOARD_HEALTH_{name.upper()}") or "").strip()
        value = (int(text) if _whole(text) else None) if kind is int else _decimal(text)
        if value is not None and low <= value <= high:
            chosen[name] = value
    return chosen


@dataclass(frozen=True)
class Settings:
    """What the app reads from its environment."""

    database_url: str | None
    data_dir: Path
    idle_minutes: int = 30
    read_database_url: str | None = None  # a read replica for the heavy usage reads
    session_hours: int = 12  # a session ends this long after sign-in, however active
    secure_cookies: bool = False  # always mark the session cookie Secure (else only when the request was HTTPS)
    health: tuple[tuple[str, int | float], ...] = ()  # the Health thresholds set (health_settings), as pairs
    # Where `health` posts its findings when --webhook is not given: a secret (it lets anyone post to the channel),
    # so it is left out of the settings' repr and never printed whole.
    health_webhook: str | None = field(default=None, repr=False)

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
            health=tuple(health_settings(env).items()),
            health_webhook=(env.get("DASHBOARD_HEALTH_WEBHOOK") or "").strip() or None,
        )

    @property
    def health_thresholds(self) -> HealthThresholds:
        """The Health thresholds: the defaults, with those set in the environment."""
        from dashboard.services.health_rules import HealthThresholds  # not at import: the services import this module

        return HealthThresholds(**dict(self.health))
