"""The web worker's socket: an answer's head waits for its body, so both leave in one send."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from webhook_app.runtime.web_worker import DeadlineSocket

HEAD = b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n"


@pytest.fixture
def pair() -> Iterator[tuple[DeadlineSocket, socket.socket]]:
    server, client = socket.socketpair()
    client.setblocking(False)
    yield DeadlineSocket(server, seconds=1, idle_seconds=1), client
    server.close()
    client.close()


def pending(client: socket.socket) -> bytes:
    try:
        return client.recv(65536)
    except BlockingIOError:
        return b""


def test_the_head_leaves_with_the_body(pair: tuple[DeadlineSocket, socket.socket]) -> None:
    server, client = pair
    server.sendall(HEAD)
    assert pending(client) == b"", "the head left on its own"
    server.sendall(b"{}")
    assert pending(client) == HEAD + b"{}"


def test_a_head_without_a_body_leaves_when_the_answer_ends_or_the_socket_closes(
    pair: tuple[DeadlineSocket, socket.socket],
) -> None:
    server, client = pair
    server.sendall(HEAD)
    server.flush()
    assert pending(client) == HEAD
    server.sendall(HEAD)
    server.close()
    assert pending(client) == HEAD


def test_anything_else_is_sent_at_once(pair: tuple[DeadlineSocket, socket.socket]) -> None:
    server, client = pair
    server.sendall(b"chunk of a body\r\n\r\n")
    assert pending(client) == b"chunk of a body\r\n\r\n"
