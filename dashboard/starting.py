"""What `python -m dashboard run` does before handing over to Streamlit."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dashboard.services.users import create_user

APP = Path(__file__).resolve().parent / "ui" / "app.py"
SERVER = APP.with_name("server.py")  # app.py behind the upload and clear-cache guards (dashboard/ui/guards.py)
REPO = APP.parent.parent.parent
FALLBACK_ADMIN = "admin@localhost.localdomain"
_HAS_ADMIN = sa.text("select exists (select 1 from user_roles where role = 'admin')")
_HAS_MODELS = sa.text("select exists (select 1 from api_models)")


def _say(line: str) -> None:
    print(line, flush=True)  # a password must not wait in a buffer for a process that may be killed next


def prepare_embedded(
    engine: Engine,
    *,
    say: Callable[[str], None] = _say,
    progress: Callable[[int, int], None] | None = None,
    jobs: int | None = None,
    bcrypt_rounds: int = 12,
) -> None:
    """On the embedded database: demo data on first start, and an admin account; say what to print.

    A first start stopped while it seeds (Ctrl-C, a closed terminal) leaves nothing behind, so the next start seeds
    again and shows the passwords then (dashboard.demo.seed_demo is one transaction). The passwords are said as
    soon as the seed is committed, before the fold that follows it.
    """
    from dashboard.demo import DEFAULT_JOBS, DemoResult, seed_demo

    with engine.connect() as conn:
        has_models, has_admin = conn.execute(_HAS_MODELS).scalar(), conn.execute(_HAS_ADMIN).scalar()
    if not has_models and not has_admin:

        def show(result: DemoResult) -> None:
            say(f"Loaded the demo catalogue: {result.models} models and {result.jobs:,} jobs.")
            say("Sign in with one of these accounts (the passwords are shown only now):")
            for email, password in result.passwords.items():
                say(f"  {email}  {password}")

        jobs = DEFAULT_JOBS if jobs is None else jobs
        seed_demo(engine, jobs=jobs, progress=progress, bcrypt_rounds=bcrypt_rounds, committed=show)
        return
    if not has_admin:
        password = secrets.token_urlsafe(12)
        create_user(engine, email=FALLBACK_ADMIN, password=password, role="admin")
        say("There was no admin account, so one was created (the password is shown only now):")
        say(f"  {FALLBACK_ADMIN}  {password}")


def streamlit_command(options: list[str], *, localhost_only: bool) -> list[str]:
    """argv for `streamlit run server.py` (app.py behind its guards); on the embedded database, localhost only."""
    if localhost_only:
        options = [o for i, o in enumerate(options) if not _is_address_option(options, i)]
        options += ["--server.address", "127.0.0.1"]
    return ["streamlit", "run", str(SERVER), *options]


def _is_address_option(options: list[str], index: int) -> bool:
    option = options[index]
    if option.startswith("--server.address"):
        return True
    return index > 0 and options[index - 1] == "--server.address"
