"""Engines tuned per database: SQLite in WAL mode with IMMEDIATE write transactions, PostgreSQL pooled."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from webhook_app.store.blocking import off_the_event_loop
from webhook_app.store.work_signal import WORK_ADDED, local_address, poke

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_SECONDS = 30
CHECKPOINT_SECONDS = 0.2
IDLE_CHECKPOINT_SECONDS = 1.0
WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024  # a WAL grown by a burst shrinks back to this after a checkpoint
CONNECT_TIMEOUT_SECONDS = 5
POSTGRES_CONNECT_ARGS = {
    "connect_timeout": CONNECT_TIMEOUT_SECONDS,
    # A database host that vanishes without a word (a partition, a dead machine) is noticed in
    # about a minute instead of the system's two hours: probes after 30 s of silence, every
    # 10 s, three of them; and data left unacknowledged for 60 s fails the connection.
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 60_000,
}
LOCK_TIMEOUT_SECONDS = 5
"""PostgreSQL: the longest a statement waits for a lock another session holds (a migration,
an operator's open transaction). It then fails as an outage: a callback is answered 503
with Retry-After, where it would otherwise wait with no deadline and hold its worker's turn."""
IMMEDIATE = "webhook_app_immediate"
"""Execution option: begin a SQLite transaction with BEGIN IMMEDIATE (it will write).

A deferred transaction that reads and then writes fails with SQLITE_BUSY when another
writer committed in between; taking the write lock up front makes writers queue instead.
Readers keep plain BEGIN and never wait in WAL mode.
"""


def create_engine(url: str | sa.URL, *, sqlite_synchronous: str = "NORMAL", **options: Any) -> sa.Engine:
    """The one place engines are made, so every connection gets the settings below."""
    if sa.engine.make_url(url).get_backend_name() == "sqlite":
        return _sqlite_engine(url, synchronous=sqlite_synchronous, **options)
    # connect_timeout keeps a request from hanging on a database that does not answer (it
    # gets a 503 instead).
    options.setdefault("connect_args", dict(POSTGRES_CONNECT_ARGS))
    engine = sa.create_engine(postgres_url(url), **options)
    _ping_when_idle(engine)
    return engine


PING_AFTER_IDLE_SECONDS = 1.0
"""A pooled connection unused this long is pinged before it is handed out again."""
_CHECKED_IN_AT = "webhook_app.checked_in_at"


def _ping_when_idle(engine: sa.Engine) -> None:
    """SQLAlchemy's `pool_pre_ping`, for connections idle a while only: a ping replaces a
    connection that died in an outage, and costs a round trip, which a busy worker paid on
    every claim and every record. A connection back in the pool less than a second ago was
    alive then; if the server went away since, its next statement fails as an outage does
    (a 503, a worker's round retried) and the pool replaces every connection made before."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get(_CHECKED_IN_AT, 0.0) < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool makes a new connection and tries that
            raise sa.exc.DisconnectionError(f"a pooled connection is dead: {exc}") from exc


def postgres_url(url: str | sa.URL) -> sa.URL:
    """The URL with `lock_timeout` added to its libpq `options`, unless it sets its own."""
    parsed = sa.engine.make_url(url)
    given = parsed.query.get("options", "")
    given = " ".join(given) if isinstance(given, tuple) else given
    if "lock_timeout" in given:
        return parsed
    ours = f"-c lock_timeout={LOCK_TIMEOUT_SECONDS * 1000}"
    return parsed.update_query_dict({"options": f"{given} {ours}".strip()})


_POKE_AFTER = "webhook_app.poke_after_commit"
"""In a pooled SQLite connection's info: the worker's address to poke once it is back in the pool
(its commit done), when its transaction added work (`wakeup.notify_work`)."""


def _sqlite_engine(url: str | sa.URL, *, synchronous: str, **options: Any) -> sa.Engine:
    if synchronous not in ("NORMAL", "FULL"):
        raise ValueError(f"SQLite synchronous must be NORMAL or FULL, not {synchronous!r}")
    _create_private(sa.engine.make_url(url).database)
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
        # Checkpoints run beside the writers, not inside a commit (see SQLiteWriters).
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        immediate = connection.get_execution_options().get(IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    address = local_address(engine.url.database)

    @event.listens_for(engine, "commit")
    def _on_commit(connection: sa.Connection) -> None:
        # The event comes before the driver commits; the worker is woken once it has.
        if connection.info.pop(WORK_ADDED, False):
            connection.info[_POKE_AFTER] = address

    @event.listens_for(engine, "rollback")
    def _on_rollback(connection: sa.Connection) -> None:
        connection.info.pop(WORK_ADDED, None)

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: Any, record: Any) -> None:
        poke(record.info.pop(_POKE_AFTER, None))

    return engine


def _create_private(database: str | None) -> None:
    """Create a new database file readable by its owner only. SQLite gives the `-wal` and
    `-shm` files it makes beside it the same mode; left to SQLite, all three followed the
    umask (usually readable by everyone), and they hold every callback and receipt."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    # There already, or a folder that is not: SQLite says which on connecting.
    with suppress(OSError):
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


class SQLiteWriters:
    """Writers of one SQLite file: they take turns in the kernel, and checkpoints happen beside them.

    Turns: SQLite's busy handler retries a locked database with sleeps of up to 100 ms, so
    under contention a writer sleeps on long after the lock is free. An exclusive `flock`
    on a file beside the database queues the writers of every process, and the kernel
    wakes the next one the moment the lock is released (also when its holder is killed).
    SQLite's own locking still decides what is safe; this only decides who tries first. A
    thread lock comes first: `flock` does not exclude threads sharing one descriptor.

    Checkpoints: by default the commit that grows the WAL past 1,000 pages copies it into
    the database and fsyncs, while holding its turn, so every writer waits behind it. Here
    no commit checkpoints (`wal_autocheckpoint=0`); every `CHECKPOINT_SECONDS` a thread of
    each writing process copies the WAL into the database with a PASSIVE checkpoint, which
    blocks no reader and no writer, then takes one turn to copy the few frames written
    meanwhile. Without that last step, a checkpoint that never catches up with the writers
    never lets the WAL start over, and it grows without bound.

    Often, while writes come: each turn taken is short, and the WAL stays well under
    `WAL_SIZE_LIMIT_BYTES`, so it is reused instead of cut back and grown again (a growing
    WAL costs more per commit). With no writes, once a second. The figures behind each
    choice are in benchmarks/RESULTS.md.
    """

    def __init__(self, engine: sa.Engine, database: str) -> None:
        self._engine = engine
        self._database = database
        self._path = database + ".writers"
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._pid = 0
        self._stop = threading.Event()

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self._threads:
            # The first write of this process: descriptors and threads do not survive fork().
            if self._pid != os.getpid():
                self._fd, self._pid = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600), os.getpid()
                threading.Thread(target=self._checkpoint, name="sqlite-checkpoints", daemon=True).start()
            assert self._fd is not None
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another process writes: in a web worker its other requests go on
                off_the_event_loop(fcntl.flock, self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self._stop.set()

    def _checkpoint(self) -> None:
        last_seen = None  # the WAL's frames at the previous pass: the same count again means no writes
        interval = IDLE_CHECKPOINT_SECONDS
        while not self._stop.wait(interval) and os.path.exists(self._database):
            try:
                with self._engine.connect() as conn:
                    # In a web worker, a checkpoint holds up none of its requests.
                    checkpoint = partial(
                        off_the_event_loop, conn.exec_driver_sql, "PRAGMA wal_checkpoint(PASSIVE)"
                    )
                    # The bulk, beside the writers. (The pragma answers: busy, frames, frames copied.)
                    _, frames, copied = checkpoint().one()
                    if frames == copied == last_seen:
                        interval = IDLE_CHECKPOINT_SECONDS
                        continue
                    last_seen, interval = frames, CHECKPOINT_SECONDS
                    checkpoint()  # catches up, beside the writers
                    with self.turn():  # the few frames written meanwhile, so the next write restarts the WAL
                        checkpoint()
            except Exception as exc:  # the next tick tries again; a real outage shows on the write path
                logger.warning("SQLite checkpoint failed: %s", exc)


class _NoWriterQueue:
    """PostgreSQL (and in-memory SQLite) need neither turns nor checkpoints from us."""

    def turn(self) -> AbstractContextManager[None]:
        return nullcontext()

    def close(self) -> None:
        pass


def writers_for(engine: sa.Engine) -> SQLiteWriters | _NoWriterQueue:
    database = engine.url.database
    if (
        engine.dialect.name != "sqlite"
        or not database
        or database == ":memory:"
        or database.startswith("file:")
    ):
        return _NoWriterQueue()
    return SQLiteWriters(engine, database)
