"""One injectable source of time, so backoff, leases and windows are testable without sleeping."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def isoformat(moment: datetime) -> str:
    """RFC 3339 with a `Z`, the form CloudEvents and the API use."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class DatabaseClock:
    """The database server's time, read through this host's clock.

    Leases and due times are written by one worker and compared by another, maybe on another
    host: with PostgreSQL shared by several hosts, their clocks must agree, and the server's
    is the one they share. Asking it on every call would cost a round trip each time, so the
    offset between the two clocks is measured every `resync_seconds` (half the query's round
    trip is taken as its delay) and added to the local time.
    """

    def __init__(self, engine: Any, resync_seconds: float = 60.0) -> None:
        self.engine = engine
        self.resync_seconds = resync_seconds
        self.offset = timedelta(0)
        self._next_sync = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        if time.monotonic() >= self._next_sync:
            self._sync()
        return datetime.now(UTC) + self.offset

    def _sync(self) -> None:
        with self._lock:
            if time.monotonic() < self._next_sync:
                return
            try:
                before = datetime.now(UTC)
                with self.engine.connect() as conn:
                    server = conn.exec_driver_sql("SELECT clock_timestamp()").scalar_one()
                after = datetime.now(UTC)
                self.offset = server - (before + (after - before) / 2)
                self._next_sync = time.monotonic() + self.resync_seconds
            except Exception as exc:  # an outage: keep the last offset, try again soon
                logger.warning("cannot read the database's clock (%s); using the last offset", exc)
                self._next_sync = time.monotonic() + min(5.0, self.resync_seconds)


def worker_clock(engine: Any) -> Clock:
    """PostgreSQL's clock for workers that share it across hosts; SQLite lives on one host."""
    return DatabaseClock(engine) if engine.dialect.name == "postgresql" else SystemClock()
