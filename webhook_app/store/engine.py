"""Engines tuned per database: SQLite in WAL mode with IMMEDIATE write transactions, PostgreSQL pooled."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

SQLITE_BUSY_TIMEOUT_SECONDS = 30
CONNECT_TIMEOUT_SECONDS = 5
IMMEDIATE = "webhook_app_immediate"
"""Execution option: begin a SQLite transaction with BEGIN IMMEDIATE (it will write).

A deferred transaction that reads and then writes fails with SQLITE_BUSY when another
writer committed in between; taking the write lock up front makes writers queue instead.
Readers keep plain BEGIN and never wait in WAL mode.
"""


def create_engine(url: str, *, sqlite_synchronous: str = "NORMAL", **options: Any) -> sa.Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url, synchronous=sqlite_synchronous, **options)
    # pre_ping replaces connections that died in an outage; connect_timeout keeps a request
    # from hanging on a database that does not answer (it gets a 503 instead).
    options.setdefault("pool_pre_ping", True)
    options.setdefault("connect_args", {"connect_timeout": CONNECT_TIMEOUT_SECONDS})
    return sa.create_engine(url, **options)


def _sqlite_engine(url: str, *, synchronous: str, **options: Any) -> sa.Engine:
    if synchronous not in ("NORMAL", "FULL"):
        raise ValueError(f"SQLite synchronous must be NORMAL or FULL, not {synchronous!r}")
    engine = sa.create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        **options,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event, not the driver, decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL (the default) in WAL mode survives a crash of any process; only power loss
        # or an OS crash may lose the last commits. FULL survives those too, at a cost per commit.
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        immediate = connection.get_execution_options().get(IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class _SQLiteWriterQueue:
    """Writers to one SQLite file take turns in the kernel, not in SQLite's busy handler.

    SQLite's busy handler retries a locked database with sleeps of up to 100 ms, so under
    contention a writer sleeps on long after the lock is free: that was most of the ingest
    p99 and the idle CPU under load. An exclusive `flock` on a file beside the database
    queues writers of every process, and the kernel wakes the next one the moment the lock
    is released (also when its holder is killed). SQLite's own locking still decides what
    is safe; this only decides who tries first. A thread lock comes first because `flock`
    does not exclude threads sharing one descriptor.
    """

    def __init__(self, database: str) -> None:
        self._path = database + ".writers"
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self._threads:
            if self._pid != os.getpid():  # a descriptor inherited across fork() is shared; reopen
                self._fd, self._pid = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600), os.getpid()
            assert self._fd is not None
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)


def writer_queue(engine: sa.Engine) -> Callable[[], AbstractContextManager[None]]:
    """What a write transaction enters first: its turn on a SQLite file, nothing elsewhere."""
    database = engine.url.database
    in_memory = not database or database == ":memory:" or database.startswith("file:")
    if engine.dialect.name != "sqlite" or database is None or in_memory:
        return nullcontext
    return _SQLiteWriterQueue(database).turn
