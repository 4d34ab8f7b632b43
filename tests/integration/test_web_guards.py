"""The web server's guards (dashboard/ui/guards.py), against a real `python -m dashboard run`.

A hand-written websocket client plays the browser: it opens a session, signs in by sending the sign-in
form's widget values, asks for upload URLs as the file uploader does, and PUTs files with plain HTTP.
What the server holds is read from its own metrics (`/_stcore/metrics`): uploaded bytes and cache entries.
The server runs with `--server.maxUploadSize 1`, so the per-session cap (two files' worth) is about 2 MB.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest
import requests
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.Common_pb2 import FileURLsRequest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState, WidgetStates
from streamlit.web.server.starlette.starlette_app_utils import generate_xsrf_token_string
from websockets.sync.client import ClientConnection, connect

from dashboard.demo import seed_demo
from tests.conftest import REPO, _throwaway_database

METRICS_TTL = 5.2  # Streamlit recomputes the cache_memory_bytes metrics at most every 5 s


@dataclass
class Server:
    url: str
    port: int
    passwords: dict[str, str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(admin_engine, server_url, template_database, tmp_path_factory) -> Iterator[Server]:
    from dashboard.database import create_db_engine

    log = tmp_path_factory.mktemp("web-guards") / "server.log"  # a file, not a pipe that could fill up
    with _throwaway_database(admin_engine, server_url, template_database) as db_url, log.open("w") as output:
        engine = create_db_engine(db_url)
        demo = seed_demo(engine, jobs=200, bcrypt_rounds=4)
        engine.dispose()
        port = _free_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dashboard",
                "run",
                "--server.headless",
                "true",
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--server.maxUploadSize",
                "1",
            ],
            cwd=REPO,
            env={**os.environ, "DATABASE_URL": db_url},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(120):
                if process.poll() is not None:  # it stopped: say why
                    break
                try:
                    if requests.get(f"{url}/_stcore/health", timeout=1).text == "ok":
                        break
                except requests.ConnectionError:
                    time.sleep(0.25)
            else:
                process.terminate()
                process.wait(timeout=20)
            if process.poll() is not None:
                raise RuntimeError(f"the app did not start: {log.read_text()}")
            yield Server(url, port, demo.passwords)
        finally:
            process.terminate()
            process.wait(timeout=20)


class Browser:
    """One Streamlit session over a websocket, as the browser's frontend drives it."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.xsrf = generate_xsrf_token_string()  # double-submit: the same token as cookie and header
        self._closing = ExitStack()
        self.ws: ClientConnection = self._closing.enter_context(
            connect(
                f"ws://127.0.0.1:{server.port}/_stcore/stream",
                subprotocols=["streamlit", self.xsrf],
                additional_headers={"Cookie": f"_streamlit_xsrf={self.xsrf}"},
                origin=server.url,
                open_timeout=10,
            )
        )
        self.session_id = ""
        self.elements = self.run()

    def close(self) -> None:
        self._closing.close()

    def send(self, message: BackMsg) -> None:
        self.ws.send(message.SerializeToString())

    def receive(self) -> ForwardMsg:
        message = ForwardMsg.FromString(self.ws.recv(timeout=30))
        if message.WhichOneof("type") == "new_session":
            self.session_id = message.new_session.initialize.session_id
        return message

    def run(self, widgets: list[WidgetState] | None = None) -> list:
        """Rerun the script with these widget values; the elements of the run that finished it."""
        self.send(BackMsg(rerun_script=ClientState(widget_states=WidgetStates(widgets=widgets or []))))
        elements: list = []
        while True:
            message = self.receive()
            kind = message.WhichOneof("type")
            if kind == "new_session":
                elements = []
            elif kind == "delta" and message.delta.WhichOneof("type") == "new_element":
                element = message.delta.new_element
                elements.append(getattr(element, element.WhichOneof("type")))
            elif kind == "script_finished" and message.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
                return elements

    def widget_id(self, label: str) -> str:
        return next(e.id for e in self.elements if getattr(e, "label", None) == label and getattr(e, "id", ""))

    def sign_in(self, email: str) -> None:
        self.elements = self.run(
            [
                WidgetState(id=self.widget_id("Email"), string_value=email),
                WidgetState(id=self.widget_id("Password"), string_value=self.server.passwords[email]),
                WidgetState(id=self.widget_id("Sign in"), trigger_value=True),
            ]
        )
        assert any(f"Signed in as {email}" in _text(e) for e in self.elements), [_text(e) for e in self.elements]

    def upload_url(self) -> str:
        """Ask for an upload URL as the file uploader does; the answer also proves every earlier message was read."""
        request_id = uuid.uuid4().hex
        self.send(BackMsg(file_urls_request=FileURLsRequest(request_id=request_id, file_names=["models.csv"])))
        while True:
            message = self.receive()
            if message.WhichOneof("type") == "file_urls_response":
                assert message.file_urls_response.response_id == request_id
                return self.server.url + message.file_urls_response.file_urls[0].upload_url

    def put(self, size: int, url: str | None = None) -> requests.Response:
        return requests.put(
            url or self.upload_url(),
            files={"file": ("models.csv", b"x" * size, "text/csv")},
            headers={"X-Xsrftoken": self.xsrf},
            cookies={"_streamlit_xsrf": self.xsrf},
            timeout=30,
        )

    def put_headers_only(self, length: int, *, wait: float = 5) -> tuple[socket.socket, int | None]:
        """Send a PUT's headers announcing `length` bytes and none of the body; the status if one comes in time."""
        path = self.upload_url().removeprefix(self.server.url)
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=wait)
        sock.sendall(
            f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.server.port}\r\nContent-Length: {length}\r\n"
            f"Content-Type: multipart/form-data; boundary=b\r\nX-Xsrftoken: {self.xsrf}\r\n"
            f"Cookie: _streamlit_xsrf={self.xsrf}\r\n\r\n".encode()
        )
        try:
            answer = sock.recv(4096).decode("latin-1")
        except TimeoutError:
            return sock, None  # the server is waiting for the body
        match = re.match(r"HTTP/1\.1 (\d+)", answer)
        return sock, int(match.group(1)) if match else None


def _text(element) -> str:
    return str(getattr(element, "body", "")).replace("\\", "").replace("\u2060", "")


_last_metrics = [0.0]


def metrics(server: Server) -> dict[str, int]:
    """The server's cache_memory_bytes gauges, by cache; waits out the metrics' 5 s cache to read them afresh."""
    time.sleep(max(0.0, _last_metrics[0] + METRICS_TTL - time.monotonic()))
    text = requests.get(f"{server.url}/_stcore/metrics", timeout=10).text
    _last_metrics[0] = time.monotonic()
    gauges = re.findall(r'^cache_memory_bytes\{cache_type="([^"]*)",cache="([^"]*)"\} (\d+)$', text, re.M)
    return {f"{kind}:{name}": int(value) for kind, name, value in gauges}


def uploaded_bytes(server: Server) -> int:
    return metrics(server).get("UploadedFileManager:", 0)


@pytest.fixture
def browser(server: Server) -> Iterator[Browser]:
    browser = Browser(server)
    yield browser
    browser.close()


def test_an_admin_session_can_upload(server, browser):
    """The control for the refusals below: the same requests from an admin's session are stored."""
    browser.sign_in("admin@example.com")
    before = uploaded_bytes(server)
    response = browser.put(100_000)
    assert response.status_code == 204, response.text
    assert uploaded_bytes(server) >= before + 100_000


def test_a_session_that_never_signed_in_cannot_upload(server, browser):
    assert any(getattr(e, "label", "") == "Sign in" for e in browser.elements)  # the sign-in form, nothing else
    before = uploaded_bytes(server)
    response = browser.put(300_000)
    assert response.status_code == 403, response.text
    sock, status = browser.put_headers_only(900_000)  # answered from the headers: no body is awaited
    sock.close()
    assert status == 403
    assert uploaded_bytes(server) <= before


def test_a_made_up_session_cannot_upload(server):
    xsrf = generate_xsrf_token_string()
    response = requests.put(
        f"{server.url}/_stcore/upload_file/{uuid.uuid4()}/{uuid.uuid4()}",
        files={"file": ("a.csv", b"x" * 1000, "text/csv")},
        headers={"X-Xsrftoken": xsrf},
        cookies={"_streamlit_xsrf": xsrf},
        timeout=30,
    )
    assert response.status_code == 403  # Streamlit's own answer would be 400, after its XSRF check


def test_a_plain_user_cannot_upload_nor_an_admin_viewing_as_one(server, browser):
    browser.sign_in("viewer@example.com")
    before = uploaded_bytes(server)
    assert browser.put(300_000).status_code == 403

    admin = Browser(server)
    try:
        admin.sign_in("admin@example.com")
        toggle = next(e for e in admin.elements if getattr(e, "label", "") == "View as a plain user")
        admin.elements = admin.run([WidgetState(id=toggle.id, bool_value=True)])
        assert admin.put(300_000).status_code == 403
    finally:
        admin.close()
    assert uploaded_bytes(server) <= before


def test_a_session_holds_at_most_two_files_worth(server, browser):
    browser.sign_in("admin@example.com")
    first, second = browser.upload_url(), browser.upload_url()
    assert browser.put(1_000_000, first).status_code == 204
    assert browser.put(1_000_000, second).status_code == 204
    over = browser.put(300_000)
    assert over.status_code == 413, over.text
    assert "already holds" in over.text
    sock, status = browser.put_headers_only(900_000)  # refused from the headers, before any of the body
    sock.close()
    assert status == 413
    assert browser.put(1_000_000, second).status_code == 204  # replacing a file counts it once

    # Removing a file (the uploader's ✕ sends a DELETE) frees its space.
    xsrf = {"headers": {"X-Xsrftoken": browser.xsrf}, "cookies": {"_streamlit_xsrf": browser.xsrf}}
    assert requests.delete(first, timeout=10, **xsrf).status_code == 204
    # Uploads still arriving count too: 1 MB held and 900 KB on its way leave no room for another 900 KB.
    arriving, status = browser.put_headers_only(900_000, wait=1)
    try:
        assert status is None  # admitted: Streamlit is waiting for its body
        refused, second_status = browser.put_headers_only(900_000)
        refused.close()
        assert second_status == 413
    finally:
        arriving.close()
    deadline = time.monotonic() + 10  # the abandoned upload's share is released once the server sees it gone
    while (response := browser.put(900_000)).status_code == 413 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert response.status_code == 204, response.text


def test_a_websocket_cannot_clear_the_caches(server, browser):
    browser.sign_in("admin@example.com")  # the Overview's reads are cached, and the engine
    cached = {name for name in metrics(server) if name.startswith(("st_cache_data:", "st_cache_resource:"))}
    assert "st_cache_resource:dashboard.ui.context.get_engine" in cached

    browser.send(BackMsg(clear_cache=True))
    browser.upload_url()  # answered only after the server has handled the clear_cache before it
    assert cached <= set(metrics(server)), "a browser cleared the caches"
    # The session's own state survives too: still signed in, still allowed to upload.
    assert browser.put(1000).status_code == 204
