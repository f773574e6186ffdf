"""A loopback TCP proxy the tests can cut and restore, standing between the service and PostgreSQL."""

from __future__ import annotations

import socket
import threading
from contextlib import suppress


class TcpProxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.is_cut = threading.Event()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        """Drop every open connection and refuse new ones, as a network partition would."""
        with self._lock:
            self.is_cut.set()
            _shut(self._open)
            self._open.clear()

    def restore(self) -> None:
        self.is_cut.clear()

    def close(self) -> None:
        self.cut()
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.is_cut.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self.is_cut.is_set():  # cut while this one was being connected: it must not survive
                    client.close()
                    upstream.close()
                    continue
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        _shut((source, sink))


def _shut(sockets: set[socket.socket] | tuple[socket.socket, ...]) -> None:
    """Shut every socket down before closing any. A socket closed while another thread is
    blocked in `recv` on it is not closed at all (the blocked call keeps it open, silent, and
    its peer waits for ever); `shutdown` wakes that call, so the pump ends and the peer sees
    the connection end."""
    for sock in sockets:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    for sock in sockets:
        with suppress(OSError):
            sock.close()
