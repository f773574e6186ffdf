"""The gunicorn worker for the web app: requests are read evented, then served in turn.

The endpoint faces the internet, where a client may send its request one byte at a time.
A sync worker reads a request in its only thread, so two such clients stall a two-worker
server, and threads only raise the number needed. Here every connection is a greenlet
(gunicorn's gevent worker): a slow client costs a socket and a little memory while its
request arrives, and the rest of the traffic is served meanwhile.

A request is judged by its head before any of its body is read: a callback to a wrong
token, or one that declares a body over the limit, is answered at once, unread (and
`Expect: 100-continue` is answered only for a body that will be read). A body that is to be
read takes its share of the worker's budget (`BODY_BUDGET_BYTES`) first, or is answered 503:
however many arrive, the bodies a worker holds are bounded.

Once a request has arrived in full (headers and body, the body held in memory up to
`MAX_BODY_BYTES`), it waits for a turn to run the app. The turns are handed out in
arrival order, so no request waits behind later ones; without them, gevent ran dozens of
requests at once and served some far later than others (benchmarks/RESULTS.md). There
are enough of them for callbacks to meet at the store and share a commit
(`store/group_commit.py`): while one batch is written, the next one forms.

The deadline: from the first byte of a request, its headers and body must have arrived
within `REQUEST_TIMEOUT` (the app's config, from `WEBHOOK_APP_REQUEST_TIMEOUT`), or it is
answered `408` and the connection closed. A connection that sends nothing is closed
silently after the same time (or gunicorn's `keepalive`, when set).
"""

from __future__ import annotations

import io
import json
import logging
import resource
import socket
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext, suppress
from typing import Any

import gevent
from gevent.lock import Semaphore
from gunicorn.glogging import Logger
from gunicorn.http.errors import (
    ConfigurationProblem,
    ExpectationFailed,
    ForbiddenProxyRequest,
    InvalidResponseHeader,
    InvalidResponseHeaderName,
    LimitRequestHeaders,
    LimitRequestLine,
    ParseException,
    UnsupportedTransferCoding,
)
from gunicorn.workers.ggevent import GeventWorker
from werkzeug.exceptions import RequestTimeout

from webhook_app.web.body import read_at_most

DEFAULT_REQUEST_TIMEOUT_SECONDS = 10.0
DEFAULT_BODY_BUDGET_BYTES = 32 * 1024 * 1024
BUSY_RETRY_AFTER_SECONDS = 1
OTHER_TURNS = 2
"""Requests other than callbacks (the API, the pages, health checks) running the app at once,
per worker, in a lane of their own: callbacks never queue behind admin reads, and at most two
of those share the worker with them (benchmarks/RESULTS.md, the admin-reads drill)."""
APP_TURNS = 16
"""Requests running the app at once, per worker: as many as a busy worker has requests in
hand (32 connections on two workers), so each commit can take all that are waiting."""

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class DeadlineSocket:
    """A client socket whose reads share one deadline per request, started by its first byte.

    Writes: gunicorn sends an answer's head and its body in two calls; the head waits for
    the body here, so both leave in one send and wake the client once."""

    def __init__(self, sock: socket.socket, seconds: float, idle_seconds: float) -> None:
        self._sock = sock
        self.seconds = seconds
        self.idle_seconds = idle_seconds
        self.deadline: float | None = None
        self.must_close = False
        self._head = b""
        self._continue_expected = False

    def send(self, data: bytes, *flags: int) -> int:
        """gunicorn answers `Expect: 100-continue` as soon as it has read the head; that answer
        waits here until the body is to be read (`send_continue`), and is dropped otherwise."""
        if data == CONTINUE:
            self._continue_expected = True
            return len(data)
        return int(self._sock.send(data, *flags))

    def send_continue(self) -> None:
        if self._continue_expected:
            self._continue_expected = False
            self._sock.sendall(CONTINUE)

    def sendall(self, data: bytes) -> None:
        if not self._head and data.startswith(b"HTTP/") and data.endswith(b"\r\n\r\n"):
            self._head = data
            return
        data, self._head = self._head + data, b""
        self._sock.sendall(data)

    def flush(self) -> None:
        """Send a head still waiting (an answer without a body)."""
        if self._head:
            head, self._head = self._head, b""
            self._sock.sendall(head)

    def close(self) -> None:
        with suppress(OSError):
            self.flush()
        self._sock.close()

    def recv(self, size: int, *flags: int) -> bytes:
        if self.deadline is None:  # no request begun: an idle connection is closed without an answer
            data = b""
            with gevent.Timeout(self.idle_seconds, False):
                data = self._sock.recv(size, *flags)
            if data:
                self.deadline = time.monotonic() + self.seconds
            return data
        remaining = self.deadline - time.monotonic()
        if remaining > 0:
            try:
                with gevent.Timeout(remaining):
                    return self._sock.recv(size, *flags)
            except gevent.Timeout:
                pass
        self.must_close = True
        raise RequestTimeout(f"The request did not arrive in full within {self.seconds:g} seconds.")

    def request_done(self) -> None:
        self.deadline = None
        self._continue_expected = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def error_answer(status: int, reason: str, code: str, message: str) -> bytes:
    """A whole HTTP answer with the service's JSON error body, for what the worker refuses
    before the app sees it (the app answers its own errors)."""
    body = json.dumps({"error": {"code": code, "message": message, "details": None}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def timeout_answer(seconds: float) -> bytes:
    message = f"The request did not arrive in full within {seconds:g} seconds."
    return error_answer(408, "Request Timeout", "request_timeout", message)


REFUSALS: dict[type[ParseException], tuple[int, str, str, str]] = {
    LimitRequestLine: (414, "URI Too Long", "uri_too_long",
                       "The request line (method, path and query) is too long."),
    LimitRequestHeaders: (431, "Request Header Fields Too Large", "headers_too_large",
                          "The request's headers are too many or too large."),
    UnsupportedTransferCoding: (501, "Not Implemented", "unsupported_transfer_coding",
                                "Send the body with Content-Length or chunked transfer coding."),
    ExpectationFailed: (417, "Expectation Failed", "expectation_failed",
                        "Only 'Expect: 100-continue' is understood."),
    ForbiddenProxyRequest: (403, "Forbidden", "forbidden", "This proxy is not allowed to forward requests."),
}  # fmt: skip
"""How gunicorn's refusals of a malformed request are answered; any other is a plain 400."""
APP_FAULTS = (InvalidResponseHeader, InvalidResponseHeaderName, ConfigurationProblem)
"""Refusals that are not the client's fault: gunicorn answers those itself (500)."""


def refusal_answer(exc: ParseException) -> bytes:
    status, reason, code, message = next(
        (answer for kind, answer in REFUSALS.items() if isinstance(exc, kind)),
        (400, "Bad Request", "bad_request", "The request is not valid HTTP/1.1."),
    )
    return error_answer(status, reason, code, message)


class BodyBudget:
    """The bytes of request bodies one worker holds at once: a request takes its share (its
    declared length, or the most it may send) before a byte of its body is read, and gives it
    back when its answer is made. Greenlets of one thread share it, so no lock is needed."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.held = 0

    def take(self, size: int) -> bool:
        if self.held + size > self.total:
            return False
        self.held += size
        return True

    def give(self, size: int) -> None:
        self.held -= size


def declared_length(environ: dict[str, Any]) -> int | None:
    """The body's declared length; None for a chunked body, whose length is known once read."""
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return None
    value = environ.get("CONTENT_LENGTH") or "0"
    return int(value) if value.isdigit() else 0


def busy_answer(start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = json.dumps({"error": {
        "code": "busy", "details": None,
        "message": "Too many request bodies are arriving at once; try again in a moment.",
    }}).encode()  # fmt: skip
    start_response("503 Service Unavailable", [
        ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
        ("Retry-After", str(BUSY_RETRY_AFTER_SECONDS)),
    ])  # fmt: skip
    return [body]


def read_in_full(
    app: WSGIApp,
    allowance: Callable[[dict[str, Any]], int | None],
    lanes: Callable[[dict[str, Any]], Semaphore],
    budget: BodyBudget,
) -> WSGIApp:
    """Wrap the app: judge the request by its head, read the whole body (at most its allowance
    + 1 bytes), then wait for a turn.

    `allowance(environ)` says how much body the request may have, or None when the app
    answers it unread (a callback to a wrong token). Such a body, and one declared longer
    than its allowance (which the app answers 413), is never read, nor asked for with
    `100 Continue`, and the connection is closed after the answer. The body goes to the
    app with its real length, whatever the transfer encoding, so a chunked body over the
    limit meets the same `413` as a declared one.
    """

    def call(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        sock = environ.get("gunicorn.socket")
        deadline_socket = sock if isinstance(sock, DeadlineSocket) else None
        declared = declared_length(environ)
        limit = allowance(environ)
        if limit is None or declared == 0 or (declared is not None and declared > limit):
            if declared != 0 and deadline_socket is not None:
                deadline_socket.must_close = True  # the unread body must not be taken for a request
            environ["wsgi.input"] = io.BytesIO(b"")
            environ["wsgi.input_terminated"] = False
            with lanes(environ):
                return app(environ, start_response)
        share = min(declared, limit + 1) if declared is not None else limit + 1
        if not budget.take(share):
            if deadline_socket is not None:
                deadline_socket.must_close = True
            return busy_answer(start_response)
        try:
            if deadline_socket is not None:
                deadline_socket.send_continue()
            body = read_at_most(environ["wsgi.input"], limit)
            if len(body) > limit and deadline_socket is not None:
                deadline_socket.must_close = True  # the rest is not read; the connection cannot be reused
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            environ["wsgi.input_terminated"] = False
            gevent.sleep(0)  # let the requests that arrived meanwhile line up before this one takes a turn
            with lanes(environ):
                return app(environ, start_response)
        finally:
            budget.give(share)

    return call


class RequestDeadlineWorker(GeventWorker):
    """gunicorn's gevent worker, with `DeadlineSocket` around each connection and `read_in_full`."""

    request_timeout = DEFAULT_REQUEST_TIMEOUT_SECONDS
    wsgi: WSGIApp

    def init_process(self) -> None:
        raise_file_limit(self.worker_connections + 100)  # the listener, the store and logs too
        super().init_process()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        app = self.wsgi
        config = getattr(app, "config", None) or {}
        self.request_timeout = float(config.get("REQUEST_TIMEOUT", DEFAULT_REQUEST_TIMEOUT_SECONDS))
        limit = int(config.get("MAX_CONTENT_LENGTH") or 1024 * 1024)
        allowance = getattr(getattr(app, "wsgi_app", None), "body_allowance", lambda environ: limit)
        budget = BodyBudget(int(config.get("BODY_BUDGET_BYTES") or DEFAULT_BODY_BUDGET_BYTES))
        endpoint = getattr(app, "wsgi_app", None)
        callback_turns, other_turns = Semaphore(APP_TURNS), Semaphore(OTHER_TURNS)
        is_callback = getattr(endpoint, "serves", lambda environ: True)
        self.wsgi = read_in_full(
            app, allowance, lambda environ: callback_turns if is_callback(environ) else other_turns, budget
        )
        self.log.info("Worker ready (pid: %s)", self.pid)  # its signals are its own from here

    def timeout_ctx(self) -> AbstractContextManager[None]:
        return nullcontext()  # DeadlineSocket bounds every wait, idle or not

    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        client.setblocking(1)
        deadline_socket = DeadlineSocket(
            client, self.request_timeout, idle_seconds=self.cfg.keepalive or self.request_timeout
        )
        super().handle(listener, deadline_socket, addr)

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> bool:
        try:
            result = super().handle_request(listener_name, req, sock, addr)
        finally:
            if isinstance(sock, DeadlineSocket):
                sock.flush()
        if isinstance(sock, DeadlineSocket):
            if sock.must_close:  # the rest of the body may still trickle in: do not wait for it
                raise StopIteration()
            sock.request_done()
        return bool(result)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """A request cut by its deadline (408) or refused by gunicorn's parser (400, 414, 431, …)
        gets the service's JSON error body, as the app's own refusals do."""
        if isinstance(exc, RequestTimeout):
            seconds = client.seconds if isinstance(client, DeadlineSocket) else self.request_timeout
            self.log.warning("cut a request that did not arrive within %gs from %s", seconds, addr[0])
            answer = timeout_answer(seconds)
        elif isinstance(exc, ParseException) and not isinstance(exc, APP_FAULTS):
            self.log.info("refused a malformed request from %s: %s", addr[0], type(exc).__name__)
            answer = refusal_answer(exc)
        else:
            super().handle_error(req, client, addr, exc)
            return
        try:
            client.sendall(answer)
        except OSError:
            self.log.debug("could not send the answer to %s", addr[0])


def raise_file_limit(wanted: int) -> None:
    """Raise this process's limit on open files towards `wanted`, as far as the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class AccessLogger(Logger):
    """gunicorn's logger, which formats every access line even when the level drops it."""

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        if self.access_log.isEnabledFor(logging.INFO):
            super().access(resp, req, environ, request_time)
