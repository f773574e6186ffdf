"""Engines tuned per database: SQLite in WAL mode with IMMEDIATE write transactions, PostgreSQL pooled."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

SQLITE_BUSY_TIMEOUT_SECONDS = 30
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
    options.setdefault("connect_args", {"connect_timeout": 5})
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
