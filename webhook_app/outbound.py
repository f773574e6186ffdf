"""Outbound HTTP for handlers and providers' clients: bounded in time and size, and only where allowed.

- Time: httpx's timeouts apply to each read, so a target that sends a byte a second kept
  an attempt alive for ever, and with every dispatch slot held so, other routes starved.
  Here one deadline covers connect, send and receive: when it passes, an alarm
  (`alarms.py`, one thread for all of them) shuts the connection's socket down, which ends
  any read in progress.
- Size: only the start of an answer is read (what an attempt record keeps), the rest is
  dropped unread; a caller that needs the whole answer (a polled provider) sets a maximum, and a
  longer answer is refused. Answers are asked for uncompressed, so no small answer can
  unpack into a large one.
- Place: where a policy is given (the forward handler's `allow_private_targets = false`),
  the address checked is the one the socket is connected to, before a byte is sent; a
  name that resolves once to a public address and then to a private one (DNS rebinding)
  cannot lead the request elsewhere.
- Connections are kept alive and reused, as any client does: a reused connection was
  checked when it connected and still goes to that address. Each call's deadline learns
  of every socket the call reads or writes, new or reused, through the network layer
  itself (`_GuardedBackend`), so it can shut the one in use.
"""

from __future__ import annotations

import contextvars
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from webhook_app import alarms
from webhook_app.errors import WebhookAppError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
KEEP_BYTES = 1024
KEEPALIVE_CONNECTIONS = 32
"""Idle connections a client keeps open (one client per route, shared by a worker's threads)."""
KEEPALIVE_SECONDS = 5.0
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_HEADERS = {
    "Accept": "*/*",
    "Accept-Encoding": "identity",  # no small answer unpacks into a large one
    "Connection": "keep-alive",
    "User-Agent": f"python-httpx/{httpx.__version__}",
}
"""What `httpx.Client` sends by default, but for the encoding."""


class OutboundError(WebhookAppError):
    """A call that did not get a usable answer; the message says why, in one sentence."""


class OutboundTimeout(OutboundError):
    pass


class BlockedAddress(OutboundError):
    pass


class AnswerTooLarge(OutboundError):
    pass


@dataclass(frozen=True)
class Answer:
    """A target's answer: its status, headers, and the start of its body (all of it when `complete`)."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    complete: bool

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


def embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, 6to4, NAT64, Teredo client), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_global_address(address: Address) -> bool:
    """Globally routable, and so is any IPv4 address it wraps (100.64.0.0/10, the shared
    space where cloud metadata services live, is not; nor are private, loopback,
    link-local, reserved or multicast ones)."""
    inner = embedded_ipv4(address)
    candidates = [address] if inner is None else [address, inner]
    return all(a.is_global and not a.is_multicast for a in candidates)


class _Guard:
    """One call's deadline and address check, told of each socket by `_GuardedBackend`."""

    def __init__(self, seconds: float, address_allowed: Callable[[Address], bool] | None) -> None:
        self.address_allowed = address_allowed
        self.expired = False
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._alarm = alarms.after(seconds, self._expire)

    def connected(self, sock: socket.socket, host: str) -> None:
        """A new connection: refused (and shut) unless its peer's address is allowed."""
        if self.address_allowed is None:
            return
        peer = ipaddress.ip_address(sock.getpeername()[0].split("%", 1)[0])
        if not self.address_allowed(peer):
            _shut(sock)
            raise BlockedAddress(f"refused to connect to {host} ({peer}): not a public address")

    def using(self, sock: socket.socket) -> None:
        """The call reads or writes `sock`: the deadline shuts it when it passes."""
        with self._lock:
            self._sockets.add(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def cancel(self) -> None:
        self._alarm.cancel()


_GUARD: contextvars.ContextVar[_Guard | None] = contextvars.ContextVar("outbound_guard", default=None)
"""The guard of the call running in this thread (httpx's sync client does its I/O in the caller's thread)."""


class _GuardedStream(httpcore.NetworkStream):
    """A connection's stream that tells the running call's guard it is in use."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket = inner.get_extra_info("socket")  # TLS keeps the TCP socket's descriptor

    def _in_use(self) -> None:
        guard = _GUARD.get()
        if guard is not None:
            guard.using(self._socket)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._in_use()
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._in_use()
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        self._in_use()
        return _GuardedStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """httpcore's own backend, whose new connections are checked by the running call's guard
    before a byte is sent, and whose streams report their use to it."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = _GuardedStream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))
        guard = _GUARD.get()
        if guard is not None:
            try:
                guard.connected(stream.get_extra_info("socket"), host)
            except BlockedAddress:
                stream.close()
                raise
            guard.using(stream.get_extra_info("socket"))
        return stream

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise BlockedAddress("outbound calls go over TCP only")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _Transport(httpx.HTTPTransport):
    """httpx's transport on `_GuardedBackend`, keeping up to `keep` connections alive."""

    def __init__(self, keep: int) -> None:
        super().__init__(trust_env=True)
        # trust_env: the system trust store, or SSL_CERT_FILE / SSL_CERT_DIR for private CAs.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=True),
            max_connections=100,
            max_keepalive_connections=keep,
            keepalive_expiry=KEEPALIVE_SECONDS,
            network_backend=_GuardedBackend(),
        )


def _shut(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class Deadline:
    """For a client that is not HTTP (SMTP): when `seconds` pass, shut down whatever socket
    `current_socket()` names then; the call blocked on it fails at once."""

    def __init__(self, seconds: float, current_socket: Callable[[], socket.socket | None]) -> None:
        self.expired = False
        self.seconds = seconds
        self._current_socket = current_socket
        self._alarm: alarms.Alarm | None = None

    def __enter__(self) -> Deadline:
        self._alarm = alarms.after(self.seconds, self._expire)
        return self

    def __exit__(self, *_: object) -> None:
        if self._alarm is not None:
            self._alarm.cancel()

    def _expire(self) -> None:
        self.expired = True
        sock = self._current_socket()
        if sock is not None:
            _shut(sock)


class Outbound:
    """An HTTP client whose every call is bounded by `timeout_seconds` as a whole.

    `max_bytes=None` reads the first `KEEP_BYTES` of each answer (handlers keep no more);
    a number reads the whole answer up to it and refuses a longer one.
    """

    def __init__(
        self,
        timeout_seconds: float,
        *,
        address_allowed: Callable[[Address], bool] | None = None,
        max_bytes: int | None = None,
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.address_allowed = address_allowed
        self.max_bytes = max_bytes
        # No proxy from the environment: every call goes through the guard.
        self._transport = _Transport(keep=KEEPALIVE_CONNECTIONS)
        self._extensions = {"timeout": httpx.Timeout(timeout_seconds).as_dict()}

    def close(self) -> None:
        self._transport.close()

    def request(self, method: str, url: str, *, headers: Any = None, **kwargs: Any) -> Answer:
        """The answer; `OutboundTimeout`, `BlockedAddress`, `AnswerTooLarge`, or httpx's
        `TransportError` for a target that cannot be reached. `kwargs` are `httpx.Request`'s
        (content, json, data, files, params).

        The request goes to the transport itself, as `httpx.Client` would send it with
        redirects off and no cookies: the client's layers (auth, redirects, cookies, merging
        its settings) cost a busy worker more than the HTTP exchange's own parsing."""
        merged = httpx.Headers(_HEADERS)
        merged.update(headers or {})
        request = httpx.Request(method, url, headers=merged, extensions=self._extensions, **kwargs)
        guard = _Guard(self.timeout_seconds, self.address_allowed)
        token = _GUARD.set(guard)
        try:
            response = self._transport.handle_request(request)
            response.request = request
            try:
                content, complete = self._read(response)
            finally:
                response.close()
            return Answer(response.status_code, response.headers, content, complete)
        except httpx.HTTPError as exc:
            if guard.expired or isinstance(exc, httpx.TimeoutException):
                raise OutboundTimeout(f"no complete answer within {self.timeout_seconds:g} s") from exc
            raise
        finally:
            guard.cancel()
            _GUARD.reset(token)

    def _read(self, response: httpx.Response) -> tuple[bytes, bool]:
        limit = KEEP_BYTES if self.max_bytes is None else self.max_bytes
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_raw():
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                if self.max_bytes is not None:
                    raise AnswerTooLarge(f"the answer is larger than {self.max_bytes} bytes")
                return b"".join(chunks)[:limit], False
        return b"".join(chunks), True

    def post(self, url: str, **kwargs: Any) -> Answer:
        return self.request("POST", url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> Answer:
        return self.request("GET", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> Answer:
        return self.request("PUT", url, **kwargs)
