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
