"""Outbound calls are bounded as a whole, read only what they keep, and reach only allowed addresses.

Real peers on loopback: a server that trickles its answer a byte at a time (HTTP, HTTPS
for Azure, and SMTP), one that answers hundreds of megabytes, and a resolver that
answers differently on the second lookup.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from marshmallow import ValidationError

from handlers.email import EmailHandler
from handlers.forward import ForwardHandler
from handlers.slack import SlackHandler
from tests.conftest import load_fixture
from tests.providers.resemble.test_callbacks import normalize
from tests.sink import Sink
from webhook_app.errors import RetryableError
from webhook_app.outbound import AnswerTooLarge, BlockedAddress, Outbound, OutboundTimeout, is_global_address
from webhook_app.providers.azure.client import AzureClient

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class RawServer:
    """A loopback TCP server that sends `script(connection)` to each client, after reading its request."""

    def __init__(self, script: Any, tls: ssl.SSLContext | None = None, read_first: bool = True) -> None:
        self.script = script
        self.sent = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.tls = tls
        self.read_first = read_first
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            if self.read_first:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
            for piece, pause in self.script():
                if self.stopped.is_set():
                    return
                conn.sendall(piece)
                self.sent += len(piece)
                time.sleep(pause)
        except OSError:
            pass  # the client gave up: what this server is for
        finally:
            conn.close()

    def close(self) -> None:
        self.stopped.set()
        self.listener.close()


def trickled(prefix: bytes, pause: float = 0.2) -> Any:
    """An answer sent one byte every `pause` seconds, for a minute."""
    return lambda: [(bytes([b]), pause) for b in prefix] + [(b"x", pause)] * int(60 / pause)


@pytest.fixture
def servers() -> Iterator[Any]:
    made: list[RawServer] = []

    def make(*args: Any, **kwargs: Any) -> RawServer:
        made.append(RawServer(*args, **kwargs))
        return made[-1]

    yield make
    for server in made:
        server.close()


def event() -> Any:
    return normalize(load_fixture("resemble_dataset_issue.json"))


def timed(call: Any) -> tuple[float, BaseException | None]:
    started = time.monotonic()
    try:
        call()
    except BaseException as exc:  # noqa: BLE001 - returned for the test to inspect
        return time.monotonic() - started, exc
    return time.monotonic() - started, None


# -- 1. one deadline for the whole attempt ---------------------------------------------------

HEADERS_TRICKLED = trickled(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
BODY_TRICKLED = trickled(b"", 0.2)


@pytest.mark.slow  # a drill: it waits out a deadline
@pytest.mark.parametrize("answer", [HEADERS_TRICKLED, BODY_TRICKLED], ids=["headers", "body"])
@pytest.mark.parametrize("handler", ["forward", "slack"])
def test_a_trickling_target_cannot_hold_an_attempt_past_its_timeout(
    servers: Any, answer: Any, handler: str
) -> None:
    """Was: a byte a second kept an attempt alive for ever (httpx times each read)."""
    if answer is BODY_TRICKLED:
        script = lambda: [(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", 0)] + answer()  # noqa: E731
    else:
        script = answer
    server = servers(script)
    url = f"http://127.0.0.1:{server.port}/hook"
    if handler == "forward":
        target: Any = ForwardHandler.from_route_options(
            {"url": url, "secret": SECRET, "timeout_seconds": 1, "allow_private_targets": True}
        )
    else:
        target = SlackHandler.from_route_options({"webhook_url": url, "timeout_seconds": 1})
    took, error = timed(lambda: target.handle(event()))
    assert isinstance(error, RetryableError) and "timed out" in str(error), error
    assert took < 2.5, f"the attempt took {took:.1f} s with timeout_seconds = 1"


@pytest.mark.slow  # a drill: it waits out a deadline
def test_a_trickling_smtp_server_cannot_hold_an_attempt_past_its_timeout(servers: Any) -> None:
    server = servers(trickled(b"220 slow.example ESMTP"), read_first=False)
    handler = EmailHandler.from_route_options(
        {"host": "127.0.0.1", "port": server.port, "security": "none", "from": "a@example.com",
         "to": ["b@example.com"], "timeout_seconds": 1}
    )  # fmt: skip
    took, error = timed(lambda: handler.handle(event()))
    assert isinstance(error, RetryableError) and "timed out" in str(error), error
    assert took < 2.5, f"the attempt took {took:.1f} s with timeout_seconds = 1"


@pytest.fixture
def server_tls(tls_certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """A server side for our test certificate, which clients trust as a private CA."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_certificate[0]))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_certificate)
    return context


@pytest.mark.slow  # a drill: it waits out a deadline
def test_a_trickling_azure_answer_cannot_hold_a_poll(servers: Any, server_tls: ssl.SSLContext) -> None:
    server = servers(trickled(b'HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n{"status":'), tls=server_tls)
    client = AzureClient("key", ("localhost",), timeout=1)
    url = f"https://localhost:{server.port}/customvoice/operations/op-1?api-version=2023-12-01-preview"
    took, error = timed(lambda: client.get(url))
    client.close()
    assert isinstance(error, OutboundTimeout), error
    assert took < 2.5


# -- 2. only what is kept is read ----------------------------------------------------------------


def huge(status: str, size: int = 300 * 2**20) -> Any:
    head = f"HTTP/1.1 {status}\r\nContent-Length: {size}\r\n\r\n".encode()
    return lambda: [(head, 0)] + [(b"x" * 2**20, 0)] * (size // 2**20)


@pytest.mark.parametrize("status", ["200 OK", "500 Internal Server Error"])
def test_a_300_mb_answer_is_not_read(servers: Any, status: str) -> None:
    """Was: the worker grew by 600 MB and stayed there."""
    server = servers(huge(status))
    handler = ForwardHandler.from_route_options(
        {"url": f"http://127.0.0.1:{server.port}/hook", "secret": SECRET, "allow_private_targets": True}
    )
    tracemalloc.start()
    try:
        _, error = timed(lambda: handler.handle(event()))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    if status.startswith("500"):
        assert isinstance(error, RetryableError) and len(str(error)) < 300
    else:
        assert error is None
    time.sleep(0.5)
    assert server.sent < 100 * 2**20, "the rest was dropped unread"


def test_an_azure_answer_over_a_mebibyte_is_refused(servers: Any, server_tls: ssl.SSLContext) -> None:
    server = servers(huge("200 OK", 50 * 2**20), tls=server_tls)
    client = AzureClient("key", ("localhost",))
    with pytest.raises(AnswerTooLarge):
        client.get(f"https://localhost:{server.port}/customvoice/operations/op-1?api-version=1")
    client.close()


# -- 3. the address checked is the address connected to ---------------------------------------


@pytest.mark.parametrize(
    "host",
    ["100.64.0.1", "100.127.255.254", "[::ffff:7f00:1]", "[::ffff:a9fe:a9fe]", "[64:ff9b::a9fe:a9fe]",
     "[2002:7f00:1::1]", "192.0.2.1", "0.0.0.0", "224.0.0.1", "[fd00::1]"],
)  # fmt: skip
def test_literal_addresses_that_are_not_public_are_refused_at_configuration(host: str) -> None:
    with pytest.raises(ValidationError) as info:
        ForwardHandler.from_route_options({"url": f"https://{host}/hook", "secret": SECRET})
    assert "allow_private_targets" in str(info.value.messages)


def test_public_addresses_pass_the_check() -> None:
    import ipaddress

    for text in ("8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"):
        assert is_global_address(ipaddress.ip_address(text)), text


def test_a_name_that_resolves_differently_the_second_time_is_checked_where_it_connects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Was: the guard resolved the name, then httpx resolved it again to connect (DNS rebinding).

    Both answers are loopback addresses here (no test may reach another address); the
    policy under test allows 127.0.0.1 and refuses 127.0.0.2, standing in for a public and
    a private address."""
    allowed, refused = Sink(), Sink(host="127.0.0.2")
    answers = iter(["127.0.0.1", "127.0.0.2", "127.0.0.2", "127.0.0.2"])
    real_getaddrinfo = socket.getaddrinfo

    def rebinding(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.test":
            return real_getaddrinfo(next(answers), port, *args, **kwargs)
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    client = Outbound(5, address_allowed=lambda address: str(address) == "127.0.0.1")
    try:
        assert client.post(f"http://rebind.test:{allowed.port}/in", content=b"{}").status_code == 200
        with pytest.raises(BlockedAddress, match=r"rebind.test \(127.0.0.2\)"):
            client.post(f"http://rebind.test:{refused.port}/in", content=b"{}")
        assert len(allowed.requests) == 1 and refused.requests == []
    finally:
        client.close()
        allowed.close()
        refused.close()


class KeepAliveServer:
    """Answers the first request on a connection at once, then trickles the answer to the
    second one on the same connection; counts the connections it accepted."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    @staticmethod
    def _request(conn: socket.socket) -> None:
        seen = b""
        while b"\r\n\r\n" not in seen:
            seen += conn.recv(65536)
        head, _, body = seen.partition(b"\r\n\r\n")
        length = int(
            next(
                line.split(b":")[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        while len(body) < length:
            body += conn.recv(65536)

    def _one(self, conn: socket.socket) -> None:
        try:
            self._request(conn)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            self._request(conn)
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
                conn.sendall(bytes([byte]))
                time.sleep(0.3)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.listener.close()


@pytest.mark.slow  # a drill: it waits out a deadline
def test_a_kept_alive_connection_is_reused_and_its_deadline_still_holds() -> None:
    """Was: every call opened a connection of its own (the deadline knew only new sockets)."""
    server = KeepAliveServer()
    client = Outbound(1, address_allowed=lambda address: str(address) == "127.0.0.1")
    try:
        url = f"http://127.0.0.1:{server.port}/in"
        assert client.post(url, content=b"{}").status_code == 200
        took, error = timed(lambda: client.post(url, content=b"{}"))
        assert isinstance(error, OutboundTimeout), error
        assert took < 2.5, f"the second call took {took:.1f} s with a 1 s deadline"
        assert server.connections == 1, "the second call went over the first call's connection"
    finally:
        client.close()
        server.close()
