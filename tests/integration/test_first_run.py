"""A first start stopped part-way (Ctrl-C, a killed process, a closed terminal): the next start still shows the
passwords of a whole demo, and nothing is half there.

The first start on the embedded database seeds the demo (dashboard/starting.prepare_embedded). It used to commit
the accounts, the catalogue and the jobs separately and show the passwords only at the very end: stopped during
the jobs, the next start found accounts whose passwords were never shown and a catalogue without jobs, and said
nothing. The seed is now one transaction, and the passwords are shown as soon as it is committed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from dashboard.database import SERVICE_ROLE
from dashboard.demo import seed_demo
from dashboard.services.auth import sign_in
from dashboard.services.usage import UsageService
from dashboard.starting import prepare_embedded
from tests.integration.test_cli import REPO

# Everything the seed writes, counted.
_WRITTEN = sa.text(
    "select (select count(*) from api_models), (select count(*) from api_providers), "
    "(select count(*) from auth.users), (select count(*) from user_roles), (select count(*) from profiles), "
    "(select count(*) from jobs)"
)
_PENDING = sa.text(
    "select (select count(*) from dashboard.job_usage_delta) + (select count(*) from dashboard.job_usage_delta_1)"
)

# The seed's usage query (its spec's text, grouped by model id and without the columns compared elsewhere).
_SEED_USAGE = sa.text(
    "SELECT am.id, COUNT(j.id) as total_jobs, COUNT(j.id) FILTER (WHERE j.status = 'completed') as completed_jobs, "
    "COUNT(j.id) FILTER (WHERE j.status = 'failed') as failed_jobs FROM api_models am "
    "JOIN api_providers ap ON am.provider_id = ap.id LEFT JOIN jobs j ON am.id = j.api_model_id "
    "WHERE am.is_active = true GROUP BY am.id"
)


def _written(engine) -> tuple[int, ...]:
    with engine.connect() as conn:
        return tuple(conn.execute(_WRITTEN).one())


def _passwords(lines: list[str]) -> dict[str, str]:
    pairs = (line.split() for line in lines if line.startswith("  ") and "@" in line)
    return {email: password for email, password in pairs}


def _stop_after_first_chunk(done: int, total: int) -> None:
    raise KeyboardInterrupt  # Ctrl-C while the jobs are being copied


def test_a_first_start_stopped_while_it_seeds_leaves_nothing_and_the_next_one_shows_the_passwords(engine):
    said: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        prepare_embedded(engine, say=said.append, progress=_stop_after_first_chunk, jobs=500, bcrypt_rounds=4)
    assert said == []  # nothing was committed, so no password was shown
    assert _written(engine) == (0, 0, 0, 0, 0, 0)

    prepare_embedded(engine, say=said.append, jobs=500, bcrypt_rounds=4)
    shown = _passwords(said)
    assert set(shown) == {"admin@example.com", "viewer@example.com"}
    models, providers, accounts, *_, jobs = _written(engine)
    assert models > 0 and providers > 0 and jobs == 500
    for email, password in shown.items():
        assert sign_in(engine, email=email, password=password).user_id is not None

    said.clear()
    prepare_embedded(engine, say=said.append, jobs=500, bcrypt_rounds=4)
    assert said == [] and _written(engine)[-1] == 500  # a later start seeds nothing


def test_the_passwords_are_shown_before_the_fold_so_a_fold_cut_short_loses_nothing(engine, monkeypatch):
    def cut_short(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(UsageService, "fold", cut_short)
    said: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        prepare_embedded(engine, say=said.append, jobs=800, bcrypt_rounds=4)
    shown = _passwords(said)
    assert sign_in(engine, email="admin@example.com", password=shown["admin@example.com"]).user_id is not None
    with engine.connect() as conn:
        assert conn.execute(_PENDING).scalar() > 0  # the fold never ran: every job is still a delta
    monkeypatch.undo()
    frame = UsageService(engine, user_id=SERVICE_ROLE).by_model()
    ours = {str(r.model_id): (r.total_jobs, r.completed_jobs, r.failed_jobs) for r in frame.itertuples()}
    with engine.connect() as conn:
        seed = {str(r[0]): tuple(r[1:]) for r in conn.execute(_SEED_USAGE)}
    assert ours == seed and sum(t for t, _, _ in ours.values()) > 0  # exact with the backlog unfolded


def test_a_seed_killed_mid_copy_leaves_nothing(fresh_database):
    """The process killed outright (SIGKILL, no handler runs) while the jobs are copied: the server rolls the seed
    back when the connection drops, and a seed after it starts from an empty catalogue."""
    migrated = subprocess.run(
        [sys.executable, "-m", "dashboard", "migrate"],
        env={**os.environ, "DATABASE_URL": fresh_database},
        cwd=REPO,
        capture_output=True,
        timeout=120,
    )
    assert migrated.returncode == 0, migrated.stderr
    seeding = subprocess.Popen(
        [sys.executable, "-m", "dashboard", "seed-demo", "--jobs", "300000"],
        env={**os.environ, "DATABASE_URL": fresh_database},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    progress = b""
    deadline = time.monotonic() + 120
    while b"jobs: 100,000 / 300,000" not in progress and time.monotonic() < deadline:
        chunk = os.read(seeding.stderr.fileno(), 256)
        if not chunk:
            break
        progress += chunk
    os.kill(seeding.pid, signal.SIGKILL)
    seeding.wait(30)
    assert b"jobs: 100,000 / 300,000" in progress, progress
    assert b"passwords" not in seeding.stdout.read()

    from dashboard.database import create_db_engine

    engine = create_db_engine(fresh_database)
    try:
        deadline = time.monotonic() + 30  # the server notices the lost connection and rolls back
        while _written(engine) != (0, 0, 0, 0, 0, 0) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _written(engine) == (0, 0, 0, 0, 0, 0)
        assert seed_demo(engine, jobs=200, bcrypt_rounds=4).passwords
    finally:
        engine.dispose()


@pytest.mark.parametrize("email", ["admin@example.com", "ADMIN@Example.com"])
def test_a_demo_email_already_in_auth_users_stops_the_seed_whole(engine, email):
    """Hostile state: an account with a demo email, written directly in SQL by other code, and no model. The seed
    refuses as create_user does, and nothing it wrote before the refusal stays."""
    from dashboard.services.errors import InvalidUser

    with engine.begin() as conn:
        conn.execute(sa.text("insert into auth.users (id, email) values (gen_random_uuid(), :email)"), {"email": email})
    with pytest.raises(InvalidUser, match="already exists"):
        seed_demo(engine, jobs=100, bcrypt_rounds=4)
    assert _written(engine) == (0, 0, 1, 0, 0, 0)


def test_seed_demo_prints_working_passwords_before_its_fold(fresh_database):
    """Read through a pipe (block-buffered, as under a process manager) and killed as soon as they appear: they
    came out whole, they sign in, and the counts are exact whether the fold ran or not. (That they come before the
    fold is test_the_passwords_are_shown_before_the_fold_so_a_fold_cut_short_loses_nothing's.)"""
    env = {**os.environ, "DATABASE_URL": fresh_database}
    migrated = subprocess.run([sys.executable, "-m", "dashboard", "migrate"], env=env, cwd=REPO, capture_output=True)
    assert migrated.returncode == 0, migrated.stderr
    seeding = subprocess.Popen(
        [sys.executable, "-m", "dashboard", "seed-demo", "--jobs", "200000"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    from dashboard.database import create_db_engine

    engine = create_db_engine(fresh_database)
    try:
        lines: list[str] = []
        for line in seeding.stdout:
            lines.append(line)
            if len(_passwords(lines)) == 2:
                break
        os.kill(seeding.pid, signal.SIGKILL)  # during the fold (grouped deltas fold fast: perhaps after it)
        seeding.wait(30)
        shown = _passwords(lines)
        assert set(shown) == {"admin@example.com", "viewer@example.com"}, lines
        assert sign_in(engine, email="admin@example.com", password=shown["admin@example.com"]).user_id is not None
        assert _written(engine)[-1] == 200_000
        frame = UsageService(engine, user_id=SERVICE_ROLE).by_model()
        with engine.connect() as conn:
            seed = {str(r[0]): tuple(r[1:]) for r in conn.execute(_SEED_USAGE)}
        assert {str(r.model_id): (r.total_jobs, r.completed_jobs, r.failed_jobs) for r in frame.itertuples()} == seed
    finally:
        engine.dispose()
