"""A TCP proxy in front of the test database that a test can cut and restore: the database going away."""

from __future__ import annotations

import socket
import threading

from sqlalchemy.engine import make_url


def _target(url: str) -> tuple[int, object]:
    """(address family, address) of the server a URL names: TCP host and port, or its Unix socket."""
    parsed = make_url(url)
    host, port = parsed.host, parsed.port
    if not host:  # libpq's form for a socket folder: postgresql://user@/db?host=/path[&port=N]
        host = parsed.query.get("host")
        port = port or parsed.query.get("port")
    host = host[0] if isinstance(host, tuple) else host
    port = int(port[0] if isinstance(port, tuple) else port or 5432)
    if host and host.startswith("/"):
        return socket.AF_UNIX, f"{host}/.s.PGSQL.{port}"
    return socket.AF_INET, (host or "127.0.0.1", port)


class CuttableProxy:
    """Forwards 127.0.0.1:<port> to the database; cut() drops every connection and refuses new ones."""

    def __init__(self, database_url: str):
        self.family, self.address = _target(database_url)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.listener.listen(64)
        self.up = threading.Event()
        self.up.set()
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.url = (
            make_url(database_url).set(host="127.0.0.1", port=self.port, query={}).render_as_string(hide_password=False)
        )
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up.is_set():
                client.close()
                continue
            try:
                server = socket.socket(self.family, socket.SOCK_STREAM)
                server.connect(self.address)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, target):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        """The database goes away: open connections break, new ones are refused."""
        self.up.clear()
        with self.lock:
            for s in self.sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
            self.sockets.clear()

    def restore(self) -> None:
        self.up.set()

    def close(self) -> None:
        self.cut()
        self.listener.close()
