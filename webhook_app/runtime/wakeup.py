"""Waking a worker when work is committed: LISTEN/NOTIFY on PostgreSQL, a local datagram on SQLite.

Writers call `notify_work(conn)` inside their transaction; PostgreSQL delivers the
notification only at commit, so a woken worker always finds the rows. One worker per
database listens (it holds a session advisory lock; the others ask every second and take
over when it is gone), and the others poll every `poll_interval`: when every worker listened,
each commit woke them all, and all but one claimed nothing, which took more of the
machine than the deliveries did (benchmarks/RESULTS.md). A woken worker that claims a full
batch claims again as its threads free, so a burst is not left to the poll. On SQLite (one host,
the embedded default) the worker listens on a Unix datagram socket named after the database
file (Linux's abstract namespace: no file to clean up), and a commit that added work sends
one byte to it after the commit, so the worker finds the rows at once instead of at its next
poll. A worker that misses a wake-up (it was not listening, a datagram was dropped) still
finds the work at its next fallback poll, so wake-ups speed things up but are never needed
for safety.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

import sqlalchemy as sa

from webhook_app.plugins import job
from webhook_app.store.work_signal import CHANNEL_SQL, local_address

logger = logging.getLogger(__name__)

LISTENING_FALLBACK_SECONDS = 5.0
LISTENER_LOOK_SECONDS = 1.0
"""How often a worker that does not listen asks whether it may (PostgreSQL)."""


class Wakeup(job.Wakeup):
    """A wake-up that can also listen for committed work."""

    def listen(self, engine: sa.Engine, stop: threading.Event) -> threading.Thread | None:
        """Start a thread that sets this wake-up when work is committed, until `stop`: `LISTEN` on
        PostgreSQL (reconnecting by itself), the database's local socket on SQLite."""
        if engine.dialect.name != "postgresql":
            return self._listen_locally(local_address(engine.url.database), stop)
        # The engine's own connection parameters: a URL rendered back to text spells spaces
        # in `options` as "+", which libpq reads as it is (a search_path of "x+-c+...").
        from webhook_app.store.engine import POSTGRES_CONNECT_ARGS  # imported here: SQLite needs none of it

        _, from_url = engine.dialect.create_connect_args(engine.url)
        params = POSTGRES_CONNECT_ARGS | {k: v for k, v in from_url.items() if isinstance(v, str | int)}
        thread = threading.Thread(target=self._listen, args=(params, stop), name="listen", daemon=True)
        thread.start()
        return thread

    def _listen_locally(self, address: str | None, stop: threading.Event) -> threading.Thread | None:
        if address is None:
            return None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(address)
        except OSError as exc:  # another worker of this database listens: this one polls
            sock.close()
            logger.info("not listening for work on this database's socket (%s); polling", exc)
            return None
        sock.settimeout(1.0)
        self.listening = True

        def receive() -> None:
            with sock:
                while not stop.is_set():
                    try:
                        sock.recv(64)
                    except TimeoutError:
                        continue
                    except OSError:
                        break
                    self.set()
            self.listening = False

        thread = threading.Thread(target=receive, name="listen-local", daemon=True)
        thread.start()
        return thread

    def _listen(self, params: dict[str, Any], stop: threading.Event) -> None:
        import psycopg  # PostgreSQL only: an SQLite process need not load the driver

        backoff = 1.0
        while not stop.is_set():
            try:
                with psycopg.connect(autocommit=True, **params) as conn:
                    (channel,) = conn.execute(f"SELECT {CHANNEL_SQL}").fetchone()  # type: ignore[misc]
                    backoff = 1.0
                    if not _listener_lock(conn, channel):
                        logger.info("another worker listens for work on this database; polling")
                        while not stop.wait(LISTENER_LOOK_SECONDS) and not _listener_lock(conn, channel):
                            pass
                        if stop.is_set():
                            break
                    conn.execute(f'LISTEN "{channel}"')  # letters, digits and "_" only
                    logger.info("listening for work on this database")
                    self.listening = True
                    self.set()  # catch up on whatever was committed while not listening
                    while not stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self.set()
            except psycopg.Error as exc:
                if self.listening:
                    logger.warning("lost the LISTEN connection, polling meanwhile: %s", exc)
                self.listening = False
                stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
        self.listening = False


def _listener_lock(conn: Any, channel: str) -> bool:
    """Whether this session now holds the database's one listener lock (released when the
    session ends: a worker that dies hands it on within `LISTENER_LOOK_SECONDS`)."""
    row = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (f"listener:{channel}",)).fetchone()
    return bool(row[0])
