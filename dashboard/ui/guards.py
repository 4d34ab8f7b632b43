"""Two guards in front of Streamlit's web server, installed as ASGI middleware by dashboard/ui/server.py.

**Uploads.** Streamlit stores whatever any browser session PUTs to `/_stcore/upload_file/{session}/{file}`
in memory until the session ends, capping each file (`server.maxUploadSize`) but not their number, so an
anonymous visitor could fill the server's memory. `UploadGuard` lets a PUT through only for a session whose
latest run found an admin signed in (app.py calls `allow_uploads` on every run), and only while the session
holds at most `FILES_PER_SESSION` files' worth. It answers 403 or 413 from the headers alone, before any of
the body is read; a PUT without a Content-Length gets 411.

**Clear cache.** Any websocket may send a `clear_cache` BackMsg, and Streamlit then clears every
`st.cache_data` and `st.cache_resource` of the process: every person's cached reads and the database
engine's pool. The app never offers it (writes clear what they change themselves), so `DropClearCache`
drops that message from every websocket, admins' included, before Streamlit sees it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

UPLOAD_OK = "_dashboard_upload_ok"  # in st.session_state: True while an admin is signed in to the session
FILES_PER_SESSION = 2  # the import takes one file; two lets an admin replace it before the old one is deleted
FRAMING_BYTES = 64 * 1024  # multipart boundaries and headers around each file
_UPLOAD_PATH = "/_stcore/upload_file/"
_LOG = logging.getLogger(__name__)


def allow_uploads(allowed: bool) -> None:
    """Record in the running session whether it may upload files: only while an admin is signed in."""
    st.session_state[UPLOAD_OK] = allowed is True


def upload_cap_bytes() -> int:
    """What one session may hold in uploaded files at once: FILES_PER_SESSION files of the largest size."""
    from streamlit import config

    return FILES_PER_SESSION * (int(config.get_option("server.maxUploadSize")) * 1024 * 1024 + FRAMING_BYTES)


class UploadGuard:
    """Refuses upload PUTs from sessions without an admin (403) and beyond the per-session cap (413)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._in_flight: defaultdict[str, int] = defaultdict(int)  # bytes admitted and not yet stored

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "PUT" or _UPLOAD_PATH not in scope["path"]:
            await self.app(scope, receive, send)
            return
        session_id, _, file_id = scope["path"].split(_UPLOAD_PATH, 1)[1].partition("/")
        session = _app_session(session_id)
        if session is None or "/" in file_id or not _may_upload(session):
            await _refuse(send, 403, "Only a session with an admin signed in may upload files.")
            return
        length = _content_length(scope)
        if length is None:
            await _refuse(send, 411, "An upload needs a Content-Length.")
            return
        held = _held_bytes(session_id, except_file=file_id)
        cap = upload_cap_bytes()
        if held + self._in_flight.get(session_id, 0) + length > cap:
            mb = 1024 * 1024
            message = (
                f"This session already holds {held / mb:.1f} MB of uploads; at most {cap // mb} MB. "
                "Remove a file from the uploader first."
            )
            await _refuse(send, 413, message)
            return
        self._in_flight[session_id] += length
        try:
            await self.app(scope, receive, send)
        finally:
            self._in_flight[session_id] -= length
            if self._in_flight[session_id] <= 0:
                del self._in_flight[session_id]


class DropClearCache:
    """Drops `clear_cache` messages from every websocket, so no browser can empty the process's caches."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return

        async def receive_without_clear_cache() -> Message:
            while True:
                message = await receive()
                if message["type"] == "websocket.receive" and _is_clear_cache(message.get("bytes")):
                    _LOG.info("Dropped a clear_cache message from %s", scope.get("client"))
                    continue
                return message

        await self.app(scope, receive_without_clear_cache, send)


def _is_clear_cache(data: bytes | None) -> bool:
    """Parsed exactly as Streamlit parses it, so both agree on the message's type; unreadable ones pass on."""
    if not data:
        return False
    from google.protobuf.message import DecodeError
    from streamlit.proto.BackMsg_pb2 import BackMsg

    message = BackMsg()
    try:
        message.ParseFromString(data)
    except DecodeError:
        return False  # Streamlit closes the connection for it
    return message.WhichOneof("type") == "clear_cache"


def _app_session(session_id: str):
    """The connected session of this id, or None (no server runtime, unknown, or disconnected)."""
    from streamlit.runtime import Runtime

    if not session_id or not Runtime.exists():
        return None
    return Runtime.instance().get_app_session(session_id)


def _may_upload(session) -> bool:
    try:
        return session.session_state[UPLOAD_OK] is True
    except Exception:  # KeyError: never signed in, or signed out (which clears the session's state); else fail closed
        return False


def _held_bytes(session_id: str, *, except_file: str) -> int:
    """Bytes the upload manager holds for the session, less the file this PUT would replace."""
    from streamlit.runtime import Runtime

    files = getattr(Runtime.instance().uploaded_file_mgr, "file_storage", {}).get(session_id) or {}
    return sum(len(rec.data) for file_id, rec in list(files.items()) if file_id != except_file)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                return None
            return length if length >= 0 else None
    return None


async def _refuse(send: Send, status: int, text: str) -> None:
    """Answer before reading the body. Uvicorn then discards whatever of it still arrives, keeping none, and
    closes the connection when its keep-alive timeout runs out (5 s), sent or not."""
    body = text.encode("utf-8")
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
