"""A real HTTP server on loopback standing in for Slack, forward targets and other sinks."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def __or__(self, headers: dict[str, str]) -> Reply:
        """The same reply with more headers: `azure_error(429, …) | {"Retry-After": "2"}`."""
        return Reply(self.status, self.body, {**self.headers, **headers}, self.delay)


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 that records every request and answers with `answer()`.

    Clearing `release` holds every request until it is set again (a hanging peer).
    """

    def __init__(self, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        self.requests: list[Received] = []
        self.release = threading.Event()
        self.release.set()
        self.arrived = threading.Event()
        self._lock = threading.Lock()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received = Received(self.command, self.path, dict(self.headers), self.rfile.read(length))
                with server._lock:
                    server.requests.append(received)
                server.arrived.set()
                server.release.wait(60)
                reply = server.answer(received)
                if reply.delay:
                    threading.Event().wait(reply.delay)
                with suppress(OSError):  # the client may have given up (timeout) or died
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), _Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def answer(self, request: Received) -> Reply:
        raise NotImplementedError

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class Sink(LoopbackServer):
    """Stands in for Slack and forward targets; `respond` decides each answer (default 200 ok)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.respond: Callable[[Received], Reply] = lambda _: Reply()
        super().__init__(host=host)
        self.url = f"http://{host}:{self.port}"

    def answer(self, request: Received) -> Reply:
        return self.respond(request)
