"""The guards' ASGI behaviour without a server (tests/integration/test_web_guards.py runs them for real)."""

import asyncio

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState

from dashboard.ui.guards import DropClearCache, UploadGuard, _is_clear_cache

CLEAR = BackMsg(clear_cache=True).SerializeToString()
RERUN = BackMsg(rerun_script=ClientState(query_string="a=1")).SerializeToString()


def test_clear_cache_is_recognised_as_streamlit_would_read_it():
    assert _is_clear_cache(CLEAR)
    assert not _is_clear_cache(RERUN)
    assert _is_clear_cache(RERUN + CLEAR)  # in a oneof the last field read wins, for Streamlit as here
    assert not _is_clear_cache(CLEAR + RERUN)
    assert not _is_clear_cache(b"\xff\xff\xff")  # not a BackMsg: Streamlit closes the connection itself
    assert not _is_clear_cache(b"") and not _is_clear_cache(None)


def _drive(middleware_class, scope, messages):
    """Run the middleware over an app that records what it receives; return (received, sent)."""
    received, sent = [], []
    pending = list(messages)

    async def app(scope, receive, send):
        while True:
            message = await receive()
            received.append(message)
            if message["type"] in ("websocket.disconnect", "http.disconnect") or not message.get("more_body", True):
                return

    async def receive():
        return pending.pop(0)

    async def send(message):
        sent.append(message)

    asyncio.run(middleware_class(app)(scope, receive, send))
    return received, sent


def test_clear_cache_frames_never_reach_streamlit():
    messages = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "bytes": CLEAR},
        {"type": "websocket.receive", "bytes": RERUN},
        {"type": "websocket.disconnect", "code": 1000},
    ]
    received, _ = _drive(DropClearCache, {"type": "websocket", "path": "/_stcore/stream"}, messages)
    assert [m.get("bytes") for m in received] == [None, RERUN, None]


def test_an_upload_without_a_session_is_refused_before_its_body_is_read():
    scope = {
        "type": "http",
        "method": "PUT",
        "path": "/_stcore/upload_file/no-such-session/file",
        "headers": [(b"content-length", b"15000000")],
    }
    received, sent = _drive(UploadGuard, scope, [])  # reading the body would fail: there is none
    assert received == []
    assert sent[0]["status"] == 403


def test_other_requests_pass():
    scope = {"type": "http", "method": "GET", "path": "/_stcore/health", "headers": []}
    received, _ = _drive(UploadGuard, scope, [{"type": "http.request", "body": b"", "more_body": False}])
    assert len(received) == 1
