"""Waking workers when work is committed: LISTEN/NOTIFY on PostgreSQL, plain polling on SQLite.

Writers call `notify_work(conn)` inside their transaction; PostgreSQL delivers the
notification only at commit, so a woken worker always finds the rows. A worker that
misses a notification (its listening connection was down) still finds the work at its
next fallback poll, so notifications speed things up but are never needed for safety.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import sqlalchemy as sa

logger = logging.getLogger(__name__)

CHANNEL_SQL = "'webhook_app_work_' || left(md5(coalesce(current_schema(), '')), 16)"
"""This schema's channel, as an SQL expression. NOTIFY reaches every session of a database,
so deployments in different schemas of one database would wake each other's workers; a
hash of the schema's name keeps the channel's name within PostgreSQL's 63 bytes."""
LISTENING_FALLBACK_SECONDS = 5.0


def notify_work(conn: sa.Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(f"SELECT pg_notify({CHANNEL_SQL}, '')"))


class Wakeup:
    """An event the dispatcher sleeps on; set by notifications, finished deliveries and shutdown."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.listening = False

    def set(self) -> None:
        self._event.set()

    def wait(self, timeout: float) -> bool:
        woken = self._event.wait(timeout)
        self._event.clear()
        return woken

    def listen(self, engine: sa.Engine, stop: threading.Event) -> threading.Thread | None:
        """On PostgreSQL, start a thread holding `LISTEN` until `stop`; reconnects by itself."""
        if engine.dialect.name != "postgresql":
            return None
        # The engine's own connection parameters: a URL rendered back to text spells spaces
        # in `options` as "+", which libpq reads as it is (a search_path of "x+-c+...").
        from webhook_app.store.engine import POSTGRES_CONNECT_ARGS  # the store imports this module

        _, from_url = engine.dialect.create_connect_args(engine.url)
        params = POSTGRES_CONNECT_ARGS | {k: v for k, v in from_url.items() if isinstance(v, str | int)}
        thread = threading.Thread(target=self._listen, args=(params, stop), name="listen", daemon=True)
        thread.start()
        return thread

    def _listen(self, params: dict[str, Any], stop: threading.Event) -> None:
        import psycopg  # PostgreSQL only: an SQLite process need not load the driver

        backoff = 1.0
        while not stop.is_set():
            try:
                with psycopg.connect(autocommit=True, **params) as conn:
                    (channel,) = conn.execute(f"SELECT {CHANNEL_SQL}").fetchone()  # type: ignore[misc]
                    conn.execute(f'LISTEN "{channel}"')  # letters, digits and "_" only
                    self.listening = True
                    backoff = 1.0
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
