"""python -m dashboard health: exit codes for cron, the table and the JSON, and the webhook against a receiver on
loopback (posted body, no post when healthy, a 500, a refused connection, a timeout, a URL that is not http)."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from dashboard.services.health import HealthService
from dashboard.services.health_notify import post_findings, redacted, webhook_payload
from tests import hostile
from tests.factories import make_model, make_provider
from tests.integration.test_cli import _terminal_safe, run_cli

SECRET_PATH = "/services/T000/B000/very-secret-token"


class Receiver:
    """A webhook receiver on 127.0.0.1: records every body posted, answers with status (and waits delay first)."""

    def __init__(self, status: int = 200, delay: float = 0.0):
        self.bodies: list[dict] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the standard library's name
                length = int(self.headers.get("Content-Length") or 0)
                receiver.paths.append(self.path)
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                time.sleep(delay)
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{SECRET_PATH}"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _jobs(engine, model, count: int, status: str, *, ago: timedelta) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into jobs (api_model_id, status, created_at) "
                "select :m, :s, now() - cast(:ago as interval) from generate_series(1, :n)"
            ),
            {"m": model, "s": status, "ago": ago, "n": count},
        )


@pytest.fixture
def healthy(db_url, engine):
    model = make_model(engine, make_provider(engine), display_name="Steady", is_default=True)
    _jobs(engine, model, 30, "completed", ago=timedelta(0))
    return db_url


@pytest.fixture
def failing(db_url, engine):
    provider = make_provider(engine)
    pick = make_model(engine, provider, display_name=f"SDXL {hostile.LINK} {hostile.ESCAPE}", is_default=True)
    make_model(engine, provider, display_name="Flux 1.1 Pro", priority=2)
    _jobs(engine, pick, 30, "failed", ago=timedelta(0))
    _jobs(engine, pick, 3, "processing", ago=timedelta(hours=3))
    return db_url


def test_healthy_exits_0_and_posts_nothing(healthy):
    with Receiver() as receiver:
        result = run_cli("health", "--webhook", receiver.url, url=healthy)
    assert result.returncode == 0, result.stderr
    assert "nothing needs attention" in result.stdout and "Steady" in result.stdout
    assert receiver.bodies == []


def test_attention_exits_1_prints_the_findings_and_posts_them(failing):
    with Receiver() as receiver:
        result = run_cli("health", "--webhook", receiver.url, url=failing, raw=True)
    assert result.returncode == 1, result.stderr
    out = _terminal_safe(result.stdout).decode()
    assert "! image/generation routes to SDXL" in out and "fails" not in out.split("next in line")[0]
    assert "3 jobs stuck in processing on SDXL" in out
    [body] = receiver.bodies
    assert receiver.paths == [SECRET_PATH]
    assert body["window"] == "1h" and [f["kind"] for f in body["findings"]] == ["failing", "stuck"]
    lines = body["text"].split("\n")
    assert len(lines) == 2 and lines[0].startswith("image/generation routes to SDXL [click me](https://evil")
    assert "\x1b" not in body["text"] and "\\x1b" in body["text"]  # a name cannot rewrite a terminal or a line
    assert result.stderr == b""


def test_json_has_the_issues_shape(failing):
    result = run_cli("health", "--format", "json", "--window", "24h", url=failing)
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document["window"] == "24h"
    [row] = document["slots"]
    keys = ("modality", "task", "model", "status", "reasons", "jobs", "failure_rate", "baseline_failure_rate")
    keys += ("p50_seconds", "p95_seconds", "stuck_jobs")
    assert set(keys) <= set(row)
    assert (row["status"], row["jobs"], row["failure_rate"], row["stuck_jobs"]) == ("attention", 33, 1.0, 3)
    assert row["model"] == f"SDXL {hostile.LINK} {hostile.ESCAPE}"  # the data, with \x1b escaped by JSON itself


@pytest.mark.parametrize("status", [500, 404])
def test_a_receiver_that_refuses_is_reported_and_the_exit_code_still_says_health(failing, status):
    with Receiver(status=status) as receiver:
        result = run_cli("health", "--webhook", receiver.url, url=failing)
    assert result.returncode == 1
    assert f"answered {status}" in result.stderr and "127.0.0.1" in result.stderr
    assert "very-secret-token" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_a_refused_connection_is_reported_from_the_environment_url(failing):
    url = f"http://127.0.0.1:{_closed_port()}{SECRET_PATH}"
    result = run_cli("health", url=failing, env_extra={"DASHBOARD_HEALTH_WEBHOOK": url})
    assert result.returncode == 1
    assert "could not post to the webhook at http://127.0.0.1/" in result.stderr
    assert "refused" in result.stderr.lower() and "very-secret-token" not in result.stderr


@pytest.mark.parametrize("url", ["file:///etc/passwd", "not a url", "ftp://example.com/x", "http://[::1"])
def test_a_url_that_is_not_http_is_never_opened(failing, url):
    result = run_cli("health", "--webhook", url, url=failing)
    assert result.returncode == 1
    assert "warning:" in result.stderr and "Traceback" not in result.stderr
    assert "passwd" not in result.stderr


def test_a_slow_receiver_times_out_and_is_reported(engine, failing):
    report = HealthService(engine, user_id="service_role").report()
    with Receiver(delay=2) as receiver:
        started = time.monotonic()
        problem = post_findings(receiver.url, report, timeout=0.5)
    assert time.monotonic() - started < 2
    assert problem == "could not post to the webhook at http://127.0.0.1/…: no answer within 0.5 s"


def test_the_payload_is_inert_in_slack_and_the_url_is_redacted(engine, failing):
    with engine.begin() as conn:
        conn.execute(sa.text("update api_models set display_name = :n where is_default"), {"n": "<!channel> & <x|y>"})
    payload = webhook_payload(HealthService(engine, user_id="service_role").report(now=datetime.now(UTC)))
    assert "&lt;!channel&gt; &amp; &lt;x|y&gt;" in payload["text"] and "<" not in payload["text"]
    assert payload["findings"][0]["model"] == "<!channel> & <x|y>"  # the data itself, for programs
    assert redacted(f"https://hooks.example.com{SECRET_PATH}") == "https://hooks.example.com/…"
    assert redacted("nonsense") == "the webhook URL"


def test_an_unreachable_database_exits_2_not_1_so_monitoring_can_tell_unknown_from_unhealthy():
    result = run_cli("health", url="postgresql://postgres@127.0.0.1:1/postgres")
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "Connection refused" in result.stderr
    assert result.stdout == ""
