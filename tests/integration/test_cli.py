"""python -m dashboard, run as a person would run it: a real process against a real database."""

import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from dashboard.cli import build_parser
from dashboard.services.transfer import read_file
from tests import hostile
from tests.conftest import ALL_VERSIONS, REPO

COMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)


def run_cli(*args, url=None, stdin="", env_extra=None, raw=False):
    """The command's result; raw=True keeps stdout and stderr as bytes (text mode turns a lone \r into \n)."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if url:
        env["DATABASE_URL"] = url
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "dashboard", *args],
        input=stdin.encode() if raw else stdin,
        capture_output=True,
        text=not raw,
        cwd=REPO,
        env=env,
        timeout=120,
    )


def test_the_commands_are_the_ones_promised():
    assert set(COMMANDS) >= {"migrate", "seed-demo", "create-user", "usage"}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = run_cli(command, "--help")
    assert result.returncode == 0
    assert "DATABASE_URL" in result.stdout or command == "run"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_documented_in_the_readme(command):
    assert f"python -m dashboard {command}" in (REPO / "README.md").read_text(encoding="utf-8")


def test_no_command_prints_help_and_fails():
    result = run_cli()
    assert result.returncode == 2
    assert "COMMAND" in result.stdout


def test_migrate_then_up_to_date(fresh_database):
    assert run_cli("migrate", url=fresh_database).stdout.strip() == f"applied {', '.join(ALL_VERSIONS)}"
    assert run_cli("migrate", url=fresh_database).stdout.strip() == "schema is up to date"


def test_seed_demo_loads_everything_and_prints_passwords_once(fresh_database):
    result = run_cli("seed-demo", "--jobs", "2000", url=fresh_database)
    assert result.returncode == 0, result.stderr
    assert "loaded 32 models and 2,000 jobs" in result.stdout
    assert "admin@example.com" in result.stdout and "viewer@example.com" in result.stdout
    assert "jobs: 2,000 / 2,000" in result.stderr
    again = run_cli("seed-demo", "--jobs", "10", url=fresh_database)
    assert again.returncode == 1
    assert "already has 32 model(s)" in again.stderr and "--jobs-only" in again.stderr
    assert run_cli("seed-demo", "--jobs-only", "--jobs", "10", url=fresh_database).stdout.strip() == "added 10 jobs"


@pytest.mark.parametrize("jobs", ["-5", "many", "1e9", "999999999999"])
def test_seed_demo_refuses_a_silly_job_count(jobs):
    result = run_cli("seed-demo", "--jobs", jobs)
    assert result.returncode == 2
    assert "--jobs" in result.stderr


def test_create_user_reads_the_password_from_stdin(db_url):
    result = run_cli(
        "create-user", "--email", " Ada@Example.COM ", "--role", "admin", url=db_url, stdin="a very long password\n"
    )
    assert result.returncode == 0, result.stderr
    assert "created admin ada@example.com" in result.stdout
    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("""select u.encrypted_password, p.email, r.role::text from auth.users u
            join profiles p on p.id = u.id join user_roles r on r.user_id = u.id""")
        ).one()
    engine.dispose()
    assert row[0].startswith("$2a$10$") and row[1:] == ("ada@example.com", "admin")  # as Supabase Auth writes
    assert "a very long password" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("not-an-email", "a very long password", "not an email address"),
        ("x@example.com", "short", "at least 12 characters"),
        ("'; drop table auth.users; --@x.com", "a very long password", "not an email address"),
        ("x@example.com", "nul\x00 in the password", "NUL"),
    ],
)
def test_create_user_refuses_bad_input_with_one_line(db_url, email, password, message):
    result = run_cli("create-user", "--email", email, "--role", "user", url=db_url, stdin=password + "\n")
    assert result.returncode == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_create_user_on_supabases_auth_tables_writes_an_account_supabase_auth_can_use(fresh_database):
    from dashboard.database import create_db_engine
    from dashboard.services.auth import sign_in
    from tests.supabase_auth import build_supabase_auth

    engine = create_db_engine(fresh_database)
    try:
        build_supabase_auth(engine)  # no id default, quickstart profiles with its new-user trigger
        result = run_cli(
            "create-user",
            "--email",
            "ada@example.com",
            "--role",
            "admin",
            url=fresh_database,
            stdin="a very long password\n",
        )
        assert result.returncode == 0, result.stderr
        with engine.connect() as conn:
            row = conn.execute(
                sa.text("""select u.id, u.aud, u.email_confirmed_at is not null, i.provider
                from auth.users u join auth.identities i on i.user_id = u.id""")
            ).one()
        assert f"({row.id})" in result.stdout and tuple(row)[1:] == ("authenticated", True, "email")
        assert sign_in(engine, email="ada@example.com", password="a very long password").user_id == row.id
    finally:
        engine.dispose()


def test_create_user_twice_says_it_exists(db_url):
    run_cli("create-user", "--email", "b@example.com", "--role", "user", url=db_url, stdin="a very long password\n")
    again = run_cli(
        "create-user", "--email", "B@example.com", "--role", "user", url=db_url, stdin="a very long password\n"
    )
    assert again.returncode == 1 and "already exists" in again.stderr


def test_usage_as_table_and_csv(fresh_database):
    run_cli("seed-demo", "--jobs", "1000", url=fresh_database)
    table = run_cli("usage", url=fresh_database)
    assert table.returncode == 0 and "SDXL 1.0" in table.stdout and "total_jobs" in table.stdout
    csv = run_cli("usage", "--format", "csv", url=fresh_database)
    lines = csv.stdout.strip().splitlines()
    assert (
        lines[0] == "display_name,modality,task,provider_name,total_jobs,completed_jobs,failed_jobs,avg_quality_rating"
    )
    assert len(lines) == 1 + 28  # the demo has 28 active models


def test_usage_over_a_range_grouped(fresh_database):
    run_cli("seed-demo", "--jobs", "2000", url=fresh_database)
    everything = run_cli("usage", "--group-by", "modality", "--format", "csv", "--fold", url=fresh_database)
    assert everything.returncode == 0 and "folded" in everything.stderr
    lines = everything.stdout.strip().splitlines()
    assert lines[0].startswith("modality,total_jobs,completed_jobs,failed_jobs,other_jobs,rated_jobs")
    assert {line.split(",")[0] for line in lines[1:]} == {"image", "video", "audio", "text"}
    week = run_cli("usage", "--range", "7d", "--group-by", "provider", url=fresh_database)
    assert week.returncode == 0 and "provider_name" in week.stdout and "jobs created" in week.stderr
    old = run_cli(
        "usage",
        "--from",
        "2001-01-01",
        "--to",
        "2001-01-31",
        "--include-inactive",
        "--rebuild",
        "--format",
        "csv",
        url=fresh_database,
    )
    assert old.returncode == 0 and "recounted 2,000 jobs" in old.stderr
    assert {line.split(",")[4] for line in old.stdout.strip().splitlines()[1:]} == {"0"}  # total_jobs
    assert len(old.stdout.strip().splitlines()) == 1 + 32  # inactive models too


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--from", "2026-02-30", "--to", "2026-03-01"), "is not a day"),
        (("--from", "2026-03-01"), "give both --from and --to"),
        (("--from", "2026-03-02", "--to", "2026-03-01"), "the last day is before the first"),
        (("--range", "1y"), "invalid choice"),
        (("--range", "7d", "--from", "2026-03-01", "--to", "2026-03-02"), "not allowed with"),
        (("--group-by", "display_name;drop"), "invalid choice"),
    ],
)
def test_usage_refuses_bad_ranges_in_one_line(fresh_database, args, says):
    result = run_cli("usage", *args, url=fresh_database)
    assert result.returncode != 0 and says in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://postgres@127.0.0.1:1/postgres", "Connection refused"),
        ("mysql://root@localhost/db", "must be a postgresql:// URL"),
        ("postgresql://postgres@/postgres?host=/nonexistent-socket-dir", "check that the server is running"),
        ("not a url at all", "must be a postgresql:// URL"),
    ],
)
def test_a_bad_url_gives_one_line_and_no_traceback(url, says):
    result = run_cli("migrate", url=url)
    assert result.returncode == 1
    assert says in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_wrong_database_name_says_what_to_check(server_url):
    from tests.conftest import url_for_database

    result = run_cli("migrate", url=url_for_database(server_url, "no_such_database_here"))
    assert result.returncode == 1
    assert "check the database name" in result.stderr


def test_a_password_in_the_url_is_never_printed():
    result = run_cli("migrate", url="postgresql://someone:s3cret-pass@127.0.0.1:1/db")
    assert "s3cret-pass" not in result.stderr + result.stdout


def test_set_password_replaces_a_missed_password(db_url):
    from dashboard.database import create_db_engine
    from dashboard.services.auth import sign_in

    run_cli("create-user", "--email", "c@example.com", "--role", "user", url=db_url, stdin="the first password\n")
    result = run_cli("set-password", "--email", "C@example.com", url=db_url, stdin="the second password\n")
    assert result.returncode == 0, result.stderr
    engine = create_db_engine(db_url)
    try:
        assert sign_in(engine, email="c@example.com", password="the second password").user_id is not None
        assert sign_in(engine, email="c@example.com", password="the first password").user_id is None
    finally:
        engine.dispose()
    unknown = run_cli("set-password", "--email", "nobody@example.com", url=db_url, stdin="the second password\n")
    assert unknown.returncode == 1 and "no account for nobody@example.com" in unknown.stderr


def test_routing_for_one_slot_and_all(fresh_database):
    run_cli("seed-demo", "--jobs", "0", url=fresh_database)
    one = run_cli("routing", "--modality", "image", "--task", "generation", url=fresh_database)
    assert one.returncode == 0
    assert "picked     1. SDXL 1.0 (replicate), priority 1, default" in one.stdout
    assert "excluded   Stable Diffusion 2.1 (replicate), priority 9: model inactive" in one.stdout
    everything = run_cli("routing", "--all", "--format", "json", url=fresh_database)
    slots = json.loads(everything.stdout)
    assert len(slots) == 13
    blocked = [s["modality"] + "/" + s["task"] for s in slots if any(w["severity"] == "error" for w in s["warnings"])]
    assert everything.returncode == (3 if blocked else 0)
    empty = run_cli("routing", "--modality", "video", "--task", "lip-sync", url=fresh_database)
    assert empty.returncode == 3 and "cannot be routed" in empty.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--modality", "image"), "give --task with --modality"),
        (("--modality", "<script>", "--task", "x"), "modality: must be one of"),
        (("--modality", "image", "--task", "'; drop table api_models; --"), "task: must be lowercase words"),
        ((), "one of the arguments --modality --all is required"),
    ],
)
def test_routing_refuses_bad_slots_in_one_line(fresh_database, args, says):
    result = run_cli("routing", *args, url=fresh_database)
    assert result.returncode != 0 and says in result.stderr and "Traceback" not in result.stderr


def test_export_then_import_round_trip_and_a_dry_run(fresh_database, tmp_path):
    run_cli("seed-demo", "--jobs", "0", url=fresh_database)
    target = tmp_path / "models.csv"
    exported = run_cli("export", "--format", "csv", "--output", str(target), url=fresh_database)
    assert exported.returncode == 0 and "wrote 32 models" in exported.stderr
    same = run_cli("import", str(target), url=fresh_database)
    assert same.returncode == 0 and "0 new, 0 changed, 32 unchanged, 0 with problems" in same.stdout
    edited = target.read_text(encoding="utf-8-sig").replace("SDXL 1.0,image", "SDXL One,image")
    target.write_text(edited, encoding="utf-8")
    dry = run_cli("import", str(target), url=fresh_database)
    assert "display_name: SDXL 1.0 -> SDXL One" in dry.stdout and "run again with --apply" in dry.stdout
    applied = run_cli("import", str(target), "--apply", url=fresh_database)
    assert applied.returncode == 0 and applied.stdout.startswith("applied: 0 new, 1 changed")
    as_json = run_cli("export", "--modality", "audio", url=fresh_database)
    assert {m["modality"] for m in json.loads(as_json.stdout)["models"]} == {"audio"}


@pytest.mark.parametrize(
    ("content", "code", "says"),
    [
        (b"provider,model_key,colour\nx,y,z\n", 1, "unknown columns"),
        (b"provider,model_key,version,display_name,modality,task\nnobody,a,,A,image,generation\n", 1, "no provider"),
        (b"\xff\xfe", 1, "not UTF-8"),
    ],
)
def test_import_refuses_bad_files_in_words(fresh_database, tmp_path, content, code, says):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    result = run_cli("import", str(path), "--apply", url=fresh_database)
    assert result.returncode == code and says in (result.stdout + result.stderr) and "Traceback" not in result.stderr


# ─── Data on a terminal (issue 12, item 11) and CSV on standard output (item 2) ─────────────────────────
def _terminal_safe(output: bytes) -> bytes:
    """Output a terminal shows as it is: no escape sequence, carriage return, bidi control or invisible character."""
    text = output.decode("utf-8")
    assert hostile.hidden_in(text, allow="\n") is None, [c for c in text if hostile.hidden_in(c, allow="\n")][:5]
    return output


@pytest.fixture
def hostile_db(db_url, engine):
    hostile.write_hostile_catalogue(engine)
    return db_url


def test_routing_text_shows_hostile_names_escaped(hostile_db):
    one = run_cli("routing", "--modality", "audio", "--task", "generation", url=hostile_db, raw=True)
    assert one.returncode in (0, 3) and _terminal_safe(one.stdout)
    every = run_cli("routing", "--all", url=hostile_db, raw=True)
    everything = _terminal_safe(every.stdout).decode()
    assert "ok\\x1b[2K\\rall good" in everything and "model\\u202egnp.exe" in everything  # shown, not obeyed
    assert "line\\nbreak" in everything  # a line break in a name cannot fake a line of the report


def test_routing_json_is_the_same_data_with_hidden_characters_escaped(hostile_db):
    result = run_cli("routing", "--all", "--format", "json", url=hostile_db, raw=True)
    previews = json.loads(_terminal_safe(result.stdout))
    names = {m["display_name"] for p in previews for m in [p["picked"] or {}, *p["fallbacks"]] if m}
    assert {hostile.ESCAPE, hostile.RLO, hostile.ZERO_WIDTH} <= names


def test_usage_table_shows_hostile_names_escaped(hostile_db):
    result = run_cli("usage", "--include-inactive", url=hostile_db, raw=True)
    assert result.returncode == 0, result.stderr
    assert "model\\u202egnp.exe" in _terminal_safe(result.stdout).decode()


def test_usage_csv_is_safe_in_a_spreadsheet(hostile_db):
    result = run_cli("usage", "--include-inactive", "--format", "csv", url=hostile_db, raw=True)
    data = b"\xef\xbb\xbf" + result.stdout  # standard output carries no byte-order mark
    assert hostile.csv_problems(data) == []
    names = {row["display_name"] for row in hostile.csv_rows(data)}
    assert hostile.CR_FORMULA + " " + hostile.URL in names and "'" + hostile.SPACED_FORMULA in names


def test_export_csv_on_a_pipe_is_the_exact_guarded_data(hostile_db):
    result = run_cli("export", "--format", "csv", url=hostile_db, raw=True)
    assert hostile.csv_problems(result.stdout) == []
    keys = {row.values["model_key"] for row in read_file(result.stdout, "x.csv")}
    assert {f"{text}/{n}" for n, text in enumerate(hostile.STORABLE)} <= keys  # exact, guard taken off again


def test_export_json_hides_nothing_and_reads_back_exactly(hostile_db):
    result = run_cli("export", url=hostile_db, raw=True)
    models = json.loads(_terminal_safe(result.stdout))["models"]
    assert {m["display_name"] for m in models} >= set(hostile.STORABLE) - {hostile.IMAGE}  # IMAGE was renamed


def test_export_csv_on_a_terminal_shows_hidden_characters_escaped(hostile_db):
    import pty

    env = {**{k: v for k, v in os.environ.items() if k != "DATABASE_URL"}, "DATABASE_URL": hostile_db}
    leader, follower = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "dashboard", "export", "--format", "csv"],
        stdout=follower,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env=env,
    ) as process:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=120) == 0
    os.close(leader)
    shown = b"".join(chunks).decode().replace("\r\n", "\n")  # the terminal driver turns \n into \r\n
    assert "\x1b" not in shown and "\u202e" not in shown and "\r" not in shown
    assert "ok\\x1b[2K\\rall good" in shown


def test_an_import_dry_run_shows_the_files_keys_escaped(hostile_db, tmp_path):
    path = tmp_path / "models.csv"
    keys = (hostile.ESCAPE, hostile.CARRIAGE_RETURN, hostile.RLO, "\x9b31m")
    path.write_text(
        "provider,model_key,display_name,modality,task\n"
        + "".join(f'plain,"{k}",Name,image,generation\n' for k in keys),
        encoding="utf-8",
    )
    result = run_cli("import", str(path), url=hostile_db, raw=True)
    assert result.returncode == 1  # the keys are refused, and the report says so where a person can see it
    out = _terminal_safe(result.stdout).decode()
    assert "plain/ok\\x1b[2K\\rall good" in out and "plain/hidden\\rshown" in out and "plain/\\x9b31m" in out
    assert "model_key: contains control characters" in out
