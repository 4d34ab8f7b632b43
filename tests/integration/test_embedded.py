"""With no DATABASE_URL the app starts an embedded PostgreSQL, keeps its data, and reuses it."""

from pathlib import Path

import pytest

from dashboard.config import Settings, default_data_dir
from tests.conftest import ALL_VERSIONS
from tests.integration.test_cli import run_cli


def test_no_url_means_the_embedded_server_with_data_kept_between_runs(tmp_path):
    env = {"DASHBOARD_DATA_DIR": str(tmp_path / "data")}
    first = run_cli("migrate", env_extra=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"applied {', '.join(ALL_VERSIONS)}"
    assert (tmp_path / "data" / "pgdata" / "PG_VERSION").exists()
    second = run_cli("migrate", env_extra=env)
    assert second.stdout.strip() == "schema is up to date"


def test_an_unusable_data_dir_gives_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run_cli("migrate", env_extra={"DASHBOARD_DATA_DIR": str(blocker / "data")})
    assert result.returncode == 1
    assert "DASHBOARD_DATA_DIR" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_data_dir_is_overridable_and_has_a_sane_default():
    assert Settings.from_env({"DASHBOARD_DATA_DIR": "/srv/x"}).data_dir == Path("/srv/x")
    assert Settings.from_env({}).data_dir == default_data_dir()
    assert Settings.from_env({"DATABASE_URL": "  "}).database_url is None


@pytest.mark.skipif(not hasattr(__import__("os"), "geteuid"), reason="POSIX only")
def test_as_root_the_default_never_sits_under_a_private_home():
    import os

    if os.geteuid() == 0:
        assert default_data_dir() == Path("/var/lib/api-models-dashboard")
    else:
        assert str(default_data_dir()).startswith(str(Path.home()))


def _server_running(pgdata: Path) -> bool:
    """Whether the embedded server of pgdata is up: its postmaster.pid names a live process."""
    import psutil

    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    return psutil.pid_exists(pid)


def _wait_until(check, seconds: float) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.25)
    return check()


def test_a_process_killed_earlier_does_not_keep_the_server_running_forever(tmp_path):
    """The server stops when the last process using it exits; a process that was killed before it could say it
    left (SIGKILL, a crash) is forgotten at the next start instead of being waited for forever."""
    env = {"DASHBOARD_DATA_DIR": str(tmp_path / "data")}
    assert run_cli("migrate", env_extra=env).returncode == 0
    pgdata = tmp_path / "data" / "pgdata"
    assert not _server_running(pgdata)
    (pgdata / ".handle_pids.json").write_text("[999999999, 1]")  # gone long ago, and a live one not ours (init)
    result = run_cli("migrate", env_extra=env)
    assert result.returncode == 0, result.stderr
    assert "[1]" == (pgdata / ".handle_pids.json").read_text().replace(" ", "")  # the live one is kept
    assert _server_running(pgdata)  # pid 1 still counts as using it: the server is left up for it
    (pgdata / ".handle_pids.json").write_text("[999999999]")
    result = run_cli("migrate", env_extra=env)
    assert result.returncode == 0, result.stderr
    assert _wait_until(lambda: not _server_running(pgdata), 20)


def test_stopping_the_app_with_sigterm_stops_the_embedded_server(tmp_path):
    """A process manager stops the app with SIGTERM: the app ends, and so does the PostgreSQL it started."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import urllib.request

    from tests.integration.test_cli import REPO

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DASHBOARD_DATA_DIR"] = str(tmp_path / "data")
    app = subprocess.Popen(
        [sys.executable, "-m", "dashboard", "run", "--server.port", str(port), "--server.headless", "true"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    pgdata = tmp_path / "data" / "pgdata"
    try:

        def up() -> bool:
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status == 200
            except OSError:
                return False

        assert _wait_until(up, 120), app.stderr.read().decode() if app.poll() is not None else "not up in 120 s"
        assert _server_running(pgdata)
        app.send_signal(signal.SIGTERM)
        app.wait(timeout=30)
        assert _wait_until(lambda: not _server_running(pgdata), 20)
    finally:
        if app.poll() is None:
            app.kill()


def test_a_first_start_killed_during_initdb_is_made_again_on_the_next(tmp_path):
    """initdb writes PG_VERSION early; killed after that (SIGKILL to the whole process group: the app and initdb),
    a cluster made in place was half there and every later start failed on it. It is made beside pgdata now, and
    renamed into place once whole, so the next start makes it again."""
    import os
    import signal
    import subprocess
    import sys

    from tests.integration.test_cli import REPO

    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DASHBOARD_DATA_DIR"] = str(data)
    first = subprocess.Popen(
        [sys.executable, "-m", "dashboard", "migrate"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert _wait_until(lambda: any((data / name / "PG_VERSION").exists() for name in ("pgdata.new", "pgdata")), 60)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(30)
    assert not (data / "pgdata").exists()  # the half-made cluster is only the staging folder

    result = run_cli("migrate", env_extra={"DASHBOARD_DATA_DIR": str(data)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"applied {', '.join(ALL_VERSIONS)}"
    assert not (data / "pgdata.new").exists()
    assert _wait_until(lambda: not _server_running(data / "pgdata"), 20)
