"""The ingest hot path: new callbacks' receipts, events and deliveries in the fewest round trips.

Almost every callback is new, so that case is written through the driver with SQL built
once per database, skipping SQLAlchemy's per-statement work, and callbacks arriving
together share one transaction (`group_commit.py`); each commit was most of what storing
a callback cost (benchmarks/RESULTS.md):

- PostgreSQL: one statement in autocommit for the whole batch, data-modifying CTEs chained
  on the receipts insert, `pg_notify` included: one round trip and one commit.
- SQLite: `BEGIN IMMEDIATE`, the inserts and `COMMIT` on the driver's cursor.

A callback whose dedupe key is already taken writes nothing and `record` says so; the
store's general path then decides between a duplicate and a stale copy. Either way its
batch has committed (or failed) before `record` returns, so acknowledging after it keeps
the guarantee. A batch that fails on its data is written again one callback at a time, so
one callback the database refuses cannot fail the others.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import sqlalchemy as sa

from webhook_app.store.blocking import off_the_event_loop
from webhook_app.store.engine import create_engine
from webhook_app.store.group_commit import GroupCommit, each_alone_if_refused
from webhook_app.store.tables import deliveries, events, receipts
from webhook_app.store.work_signal import CHANNEL_SQL, local_address, poke

Row = dict[str, Any]

_RECEIPT_COLUMNS = ("id", "provider", "received_at", "status", "reason", "content_type", "headers", "body",
                    "dedupe_key")  # fmt: skip
_EVENT_COLUMNS = ("id", "receipt_id", "provider", "type", "voice_id", "status", "occurred_at", "document")
_DELIVERY_COLUMNS = ("id", "event_id", "route", "status", "attempts", "next_attempt_at", "created_at",
                     "updated_at", "replay_of")  # fmt: skip

# Receipts, events and deliveries travel as one JSON array each (`jsonb_to_recordset`): one
# parameter for any number of rows, serialized by the json module's C encoder (arrays of
# text parameters cost more to encode than the statement took to run). Events and
# deliveries are written only for receipts whose insert did not hit the dedupe key.
# Receipts go in key order, so two batches with keys in common take them in the same order
# and never deadlock waiting for each other. (The one value put in is our own constant.)
_POSTGRES_SQL = f"""
WITH r AS (
    INSERT INTO receipts (id, provider, received_at, status, reason, content_type, headers, body, dedupe_key)
    SELECT u.id, u.provider, u.received_at, u.status, u.reason::jsonb, u.content_type, u.headers,
           decode(u.body, 'hex'), u.dedupe_key
    FROM jsonb_to_recordset(%(receipts)s::jsonb) AS u(
        id text, provider text, received_at timestamptz, status text, reason text, content_type text,
        headers jsonb, body text, dedupe_key text)
    ORDER BY u.dedupe_key
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id
), e AS (
    INSERT INTO events (id, receipt_id, provider, type, voice_id, status, occurred_at, document)
    SELECT u.id, u.receipt_id, u.provider, u.type, u.voice_id, u.status, u.occurred_at, u.document
    FROM jsonb_to_recordset(%(events)s::jsonb) AS u(id text, receipt_id text, provider text, type text,
                                                     voice_id text, status text, occurred_at timestamptz,
                                                     document jsonb, ordinal int)
    WHERE u.receipt_id IN (SELECT id FROM r)
    ORDER BY u.ordinal
    RETURNING id
), d AS (
    INSERT INTO deliveries (id, event_id, route, status, attempts, next_attempt_at, created_at, updated_at,
                            replay_of)
    SELECT u.* FROM jsonb_to_recordset(%(deliveries)s::jsonb) AS u(
        id text, event_id text, route text, status text, attempts int, next_attempt_at timestamptz,
        created_at timestamptz, updated_at timestamptz, replay_of text)
    WHERE u.event_id IN (SELECT id FROM e)
    RETURNING 1
)
SELECT ARRAY(SELECT id FROM r),
       (SELECT count(pg_notify({CHANNEL_SQL}, '')) FROM (SELECT FROM d LIMIT 1) AS any_delivery)
"""  # noqa: S608


class _SQLiteInsert:
    """An INSERT for the driver, and the row converter that stores values as SQLAlchemy would."""

    def __init__(
        self, dialect: sa.Dialect, table: sa.Table, columns: Sequence[str], suffix: str = ""
    ) -> None:
        placeholders = ", ".join("?" for _ in columns)
        # Names come from our own table definitions, never from input.
        self.sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({placeholders}){suffix}"  # noqa: S608
        self._steps = [(name, table.c[name].type.bind_processor(dialect)) for name in columns]

    def values(self, row: Row) -> tuple[Any, ...]:
        return tuple(row[name] if process is None else process(row[name]) for name, process in self._steps)


@dataclass(frozen=True)
class NewCallback:
    """One callback's rows in the form its database's statement takes, made before any lock is taken."""

    receipt_id: str
    receipt: Any
    events: list[Any]
    deliveries: list[Any]


class FastPath:
    """`record` writes a new callback and returns True, or writes nothing and returns False."""

    _autocommit: sa.Engine

    def __init__(self, engine: sa.Engine, writer_turn: Callable[[], AbstractContextManager[None]]) -> None:
        self.engine = engine
        self._writer_turn = writer_turn  # SQLite's queue of writers
        self._work_address = local_address(engine.url.database) if engine.dialect.name == "sqlite" else None
        dialect = engine.dialect
        write: Callable[[Sequence[NewCallback]], list[bool]]
        if dialect.name == "postgresql":
            self._prepare = _postgres_rows
            write = self._write_postgres
            # Its own pool in autocommit (the statement is the transaction). Like every engine,
            # it pings only a connection idle a second or more; one that died sooner is retried below.
            self._autocommit = create_engine(
                engine.url,
                isolation_level="AUTOCOMMIT",
                pool_size=engine.pool.size(),  # type: ignore[attr-defined]
                max_overflow=engine.pool.size(),  # type: ignore[attr-defined]
            )
        else:
            self._prepare = self._sqlite_values
            write = self._write_sqlite
            self._receipt = _SQLiteInsert(
                dialect, receipts, _RECEIPT_COLUMNS, " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id"
            )
            self._event = _SQLiteInsert(dialect, events, _EVENT_COLUMNS)
            self._delivery = _SQLiteInsert(dialect, deliveries, _DELIVERY_COLUMNS)
        # If the database refuses a batch's data, each callback on its own, so one it refuses
        # fails alone. An outage fails the batch: retrying would only wait longer.
        self._batches = GroupCommit(
            partial(each_alone_if_refused, write, refused=(sa.exc.IntegrityError, sa.exc.DataError))
        )

    def record(self, receipt: Row, event_rows: list[Row], delivery_rows: list[Row]) -> bool:
        return self._batches.submit(self._prepare(receipt, event_rows, delivery_rows))

    def dispose(self) -> None:
        if self.engine.dialect.name == "postgresql":
            self._autocommit.dispose()

    def _sqlite_values(self, receipt: Row, event_rows: list[Row], delivery_rows: list[Row]) -> NewCallback:
        return NewCallback(
            receipt["id"],
            self._receipt.values(receipt),
            [self._event.values(row) for row in event_rows],
            [self._delivery.values(row) for row in delivery_rows],
        )

    def _write_sqlite(self, batch: Sequence[NewCallback]) -> list[bool]:
        with self._writer_turn(), _driver_cursor(self.engine) as cursor:
            inserted = off_the_event_loop(self._insert_sqlite, cursor, batch)
        if any(new and callback.deliveries for new, callback in zip(inserted, batch, strict=True)):
            poke(self._work_address)  # committed: the worker finds the deliveries at once
        return inserted

    def _insert_sqlite(self, cursor: Any, batch: Sequence[NewCallback]) -> list[bool]:
        cursor.execute("BEGIN IMMEDIATE")
        try:
            inserted = []
            for callback in batch:
                new = cursor.execute(self._receipt.sql, callback.receipt).fetchone() is not None
                if new:
                    cursor.executemany(self._event.sql, callback.events)
                    cursor.executemany(self._delivery.sql, callback.deliveries)
                inserted.append(new)
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        return inserted

    def _write_postgres(self, batch: Sequence[NewCallback]) -> list[bool]:
        event_rows = [row for callback in batch for row in callback.events]
        for ordinal, row in enumerate(event_rows):
            row["ordinal"] = ordinal  # events keep the order they came in
        params = {
            "receipts": json.dumps([callback.receipt for callback in batch]),
            "events": json.dumps(event_rows),
            "deliveries": json.dumps([row for callback in batch for row in callback.deliveries]),
        }
        for attempt in (1, 2):
            try:
                with _driver_cursor(self._autocommit) as cursor:
                    cursor.execute(_POSTGRES_SQL, params)
                    inserted, _ = cursor.fetchone()
                new = set(inserted)
                return [callback.receipt_id in new for callback in batch]
            except sa.exc.DBAPIError as error:
                # A connection that died within a second of its last use (the database restarted)
                # fails here instead of in a ping; one retry on a new one is safe: if the first try
                # did commit, the retry finds the dedupe keys taken and reports duplicates.
                if not error.connection_invalidated or attempt == 2:
                    raise
        raise AssertionError("unreachable")


def _postgres_rows(receipt: Row, event_rows: list[Row], delivery_rows: list[Row]) -> NewCallback:
    """Rows for `jsonb_to_recordset`; the reason as JSON text (its null is JSON's, as SQLAlchemy
    stores None) and the body as hex."""
    return NewCallback(
        receipt["id"],
        json_row(receipt, _RECEIPT_COLUMNS)
        | {"reason": json.dumps(receipt["reason"]), "body": receipt["body"].hex()},
        [json_row(row, _EVENT_COLUMNS) for row in event_rows],
        [json_row(row, _DELIVERY_COLUMNS) for row in delivery_rows],
    )


def json_row(row: Row, columns: Sequence[str]) -> Row:
    """A row for `jsonb_to_recordset`: times as RFC 3339 text (microseconds and offset kept)."""
    return {name: row[name].isoformat() if isinstance(row[name], datetime) else row[name] for name in columns}


@contextmanager
def _driver_cursor(engine: sa.Engine) -> Iterator[Any]:
    """A pooled connection's driver cursor; driver errors become SQLAlchemy's, as on every other path."""
    driver_error = engine.dialect.loaded_dbapi.Error
    connection = None
    try:
        connection = engine.raw_connection()  # the pool passes a failed connect on unwrapped
        cursor = connection.cursor()
        try:
            yield cursor
        finally:
            cursor.close()
    except driver_error as error:
        disconnected = connection is not None and engine.dialect.is_disconnect(
            error, connection.dbapi_connection, None
        )
        if disconnected:
            connection.invalidate(error)  # type: ignore[union-attr]
        raise sa.exc.DBAPIError.instance(
            None, None, error, driver_error, connection_invalidated=disconnected
        ) from error
    finally:
        if connection is not None:
            connection.close()
