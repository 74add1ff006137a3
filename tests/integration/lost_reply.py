"""A TCP proxy that loses one reply: the call reaches the service, the service commits, and the
connection is cut before the answer gets back (what a network failure at the worst moment does).

`LostReplyProxy(upstream, committed)` listens on a free local port and forwards every
connection to `upstream`, bytes untouched (mutual TLS passes through it end to end). Bytes from
the server are forwarded only while `committed()` is false; the first chunk the server sends
once `committed()` holds (the test's own look at the database: the service wrote what the call
commits, and only then answers) is dropped and both sides of that connection are cut, once.
Later connections (the caller's retry) are forwarded normally. Deterministic: a service commits
before it answers, so the answer is never forwarded while the cut is armed.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable


class LostReplyProxy:
    """Forwards to `upstream` ("host:port"); cuts the first reply sent after `committed()`."""

    def __init__(self, upstream: str, committed: Callable[[], bool]) -> None:
        host, port = upstream.rsplit(":", 1)
        self._upstream = (host, int(port))
        self._committed = committed
        self._lock = threading.Lock()
        self._armed = True
        self.cut = threading.Event()
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        with contextlib.suppress(OSError):
            self._listener.close()

    def __enter__(self) -> LostReplyProxy:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self._upstream, timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            self.connections += 1
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, replies: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if replies and self._cut_now():
                    _reset(source)
                    _reset(target)
                    return
                target.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def _cut_now(self) -> bool:
        with self._lock:
            if not self._armed or not self._committed():
                return False
            self._armed = False
        self.cut.set()
        return True


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0): the peer sees the connection fail, not end."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()
