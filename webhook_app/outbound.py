"""Outbound HTTP for handlers and providers' clients: bounded in time and size, and only where allowed.

- Time: httpx's timeouts apply to each read, so a target that sends a byte a second kept
  an attempt alive for ever, and with every dispatch slot held so, other routes starved.
  Here one deadline covers connect, send and receive: when it passes, a timer shuts the
  connection's socket down, which ends any read in progress.
- Size: only the start of an answer is read (what an attempt record keeps), the rest is
  dropped unread; a caller that needs the whole answer (a polled provider) sets a maximum, and a
  longer answer is refused. Answers are asked for uncompressed, so no small answer can
  unpack into a large one.
- Place: where a policy is given (the forward handler's `allow_private_targets = false`),
  the address checked is the one the socket is connected to, before a byte is sent; a
  name that resolves once to a public address and then to a private one (DNS rebinding)
  cannot lead the request elsewhere. Every call opens its own connection for that reason.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import httpx

from webhook_app.errors import WebhookAppError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
KEEP_BYTES = 1024
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


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
    """One call's deadline and address check, fed by httpcore's trace events."""

    def __init__(self, seconds: float, address_allowed: Callable[[Address], bool] | None) -> None:
        self.address_allowed = address_allowed
        self.expired = False
        self.host = "?"
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.started":
            self.host = str(info.get("host", "?"))
        if event not in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            return
        sock = info["return_value"].get_extra_info("socket")  # TLS takes over the TCP socket's descriptor
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)
        if self.address_allowed is None or event != "connection.connect_tcp.complete":
            return
        peer = ipaddress.ip_address(sock.getpeername()[0].split("%", 1)[0])
        if not self.address_allowed(peer):
            _shut(sock)
            raise BlockedAddress(f"refused to connect to {self.host} ({peer}): not a public address")

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def cancel(self) -> None:
        self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class Deadline:
    """For a client that is not HTTP (SMTP): when `seconds` pass, shut down whatever socket
    `current_socket()` names then; the call blocked on it fails at once."""

    def __init__(self, seconds: float, current_socket: Callable[[], socket.socket | None]) -> None:
        self.expired = False
        self._current_socket = current_socket
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._timer.cancel()

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
        # trust_env: the system trust store, or SSL_CERT_FILE / SSL_CERT_DIR for private CAs.
        self.http = httpx.Client(
            timeout=timeout_seconds,
            follow_redirects=False,
            trust_env=True,
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={"Accept-Encoding": "identity"},
        )

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, url: str, **kwargs: Any) -> Answer:
        """The answer; `OutboundTimeout`, `BlockedAddress`, `AnswerTooLarge`, or httpx's
        `TransportError` for a target that cannot be reached."""
        guard = _Guard(self.timeout_seconds, self.address_allowed)
        try:
            with self.http.stream(method, url, extensions={"trace": guard.trace}, **kwargs) as response:
                content, complete = self._read(response)
                return Answer(response.status_code, response.headers, content, complete)
        except httpx.HTTPError as exc:
            if guard.expired or isinstance(exc, httpx.TimeoutException):
                raise OutboundTimeout(f"no complete answer within {self.timeout_seconds:g} s") from exc
            raise
        finally:
            guard.cancel()

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
