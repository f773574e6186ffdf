"""The ingest hot path: a new callback's receipt, events and deliveries in the fewest round trips.

Almost every callback is new, so that case is written through the driver with SQL built
once per database, skipping SQLAlchemy's per-statement work, which with its round trips
was most of what storing a callback cost (benchmarks/RESULTS.md):

- PostgreSQL: one statement in autocommit, data-modifying CTEs chained on the receipt
  insert, `pg_notify` included: one round trip and one commit instead of seven round trips.
- SQLite: `BEGIN IMMEDIATE`, three inserts and `COMMIT` on the driver's cursor.

When the dedupe key is already taken nothing is written and `record` says so; the store's
general path then decides between a duplicate and a stale copy. Either way the commit has
happened (or not) before `record` returns, so acknowledging after it keeps the guarantee.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from webhook_app.store.engine import CONNECT_TIMEOUT_SECONDS
from webhook_app.store.tables import deliveries, events, receipts
from webhook_app.wakeup import CHANNEL

Row = dict[str, Any]

_RECEIPT_COLUMNS = ("id", "provider", "received_at", "status", "reason", "content_type", "headers", "body",
                    "dedupe_key")  # fmt: skip
_EVENT_COLUMNS = ("id", "receipt_id", "provider", "type", "voice_id", "status", "occurred_at", "document")
_DELIVERY_COLUMNS = ("id", "event_id", "route", "status", "attempts", "next_attempt_at", "created_at",
                     "updated_at", "replay_of")  # fmt: skip

# Events and deliveries travel as one JSON array each (`jsonb_to_recordset`): one parameter
# for any number of rows, serialized by the json module's C encoder (arrays of text
# parameters cost more to encode than the statement took to run). They are written only
# when the receipt insert did not hit the dedupe key: the receipt id comes from it.
_POSTGRES_SQL = """
WITH r AS (
    INSERT INTO receipts (id, provider, received_at, status, reason, content_type, headers, body, dedupe_key)
    VALUES (%(id)s, %(provider)s, %(received_at)s, %(status)s, %(reason)s::jsonb, %(content_type)s,
            %(headers)s::jsonb, %(body)s, %(dedupe_key)s)
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id
), e AS (
    INSERT INTO events (id, receipt_id, provider, type, voice_id, status, occurred_at, document)
    SELECT u.id, r.id, u.provider, u.type, u.voice_id, u.status, u.occurred_at, u.document
    FROM r, jsonb_to_recordset(%(events)s::jsonb) AS u(id text, provider text, type text, voice_id text,
                                                         status text, occurred_at timestamptz, document jsonb)
    RETURNING 1
), d AS (
    INSERT INTO deliveries (id, event_id, route, status, attempts, next_attempt_at, created_at, updated_at,
                            replay_of)
    SELECT u.* FROM jsonb_to_recordset(%(deliveries)s::jsonb) AS u(
        id text, event_id text, route text, status text, attempts int, next_attempt_at timestamptz,
        created_at timestamptz, updated_at timestamptz, replay_of text)
    WHERE EXISTS (SELECT FROM r)
    RETURNING 1
)
SELECT (SELECT id FROM r),
       (SELECT count(*) FROM e),
       (SELECT count(pg_notify(%(channel)s, '')) FROM (SELECT FROM d LIMIT 1) AS any_delivery)
"""


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


class FastPath:
    """`record` writes a new callback and returns True, or writes nothing and returns False."""

    _autocommit: sa.Engine

    def __init__(self, engine: sa.Engine, writer_turn: Callable[[], AbstractContextManager[None]]) -> None:
        self.engine = engine
        self._writer_turn = writer_turn  # SQLite's queue of writers; values are converted before it
        dialect = engine.dialect
        self.record: Callable[[Row, list[Row], list[Row]], bool]
        if dialect.name == "postgresql":
            self.record = self._record_postgres
            # Its own pool: autocommit (the statement is the transaction) and no ping before
            # each use, which would double the round trips; a dead connection is retried below.
            self._autocommit = sa.create_engine(
                engine.url,
                isolation_level="AUTOCOMMIT",
                pool_size=engine.pool.size(),  # type: ignore[attr-defined]
                max_overflow=engine.pool.size(),  # type: ignore[attr-defined]
                connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
            )
        else:
            self.record = self._record_sqlite
            self._receipt = _SQLiteInsert(
                dialect, receipts, _RECEIPT_COLUMNS, " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id"
            )
            self._event = _SQLiteInsert(dialect, events, _EVENT_COLUMNS)
            self._delivery = _SQLiteInsert(dialect, deliveries, _DELIVERY_COLUMNS)

    def _record_sqlite(self, receipt: Row, event_rows: list[Row], delivery_rows: list[Row]) -> bool:
        receipt_values = self._receipt.values(receipt)
        event_values = [self._event.values(r) for r in event_rows]
        delivery_values = [self._delivery.values(r) for r in delivery_rows]
        with self._writer_turn(), _driver_cursor(self.engine) as cursor:
            cursor.execute("BEGIN IMMEDIATE")
            try:
                inserted = cursor.execute(self._receipt.sql, receipt_values).fetchone() is not None
                if inserted:
                    cursor.executemany(self._event.sql, event_values)
                    cursor.executemany(self._delivery.sql, delivery_values)
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        return inserted

    def dispose(self) -> None:
        if self.engine.dialect.name == "postgresql":
            self._autocommit.dispose()

    def _record_postgres(self, receipt: Row, event_rows: list[Row], delivery_rows: list[Row]) -> bool:
        params = {
            **receipt,
            "reason": json.dumps(receipt["reason"]),  # JSON null, as SQLAlchemy stores None
            "headers": json.dumps(receipt["headers"]),
            "channel": CHANNEL,
        }
        params["events"] = json.dumps([_json_row(row, _EVENT_COLUMNS) for row in event_rows])
        params["deliveries"] = json.dumps([_json_row(row, _DELIVERY_COLUMNS) for row in delivery_rows])
        for attempt in (1, 2):
            try:
                with _driver_cursor(self._autocommit) as cursor:
                    cursor.execute(_POSTGRES_SQL, params)
                    receipt_id, _, _ = cursor.fetchone()
                return receipt_id is not None
            except sa.exc.DBAPIError as error:
                # A connection that died while idle in the pool (the database restarted) fails
                # here instead of in a ping; one retry on a new one is safe: if the first try
                # did commit, the retry finds the dedupe key taken and reports a duplicate.
                if not error.connection_invalidated or attempt == 2:
                    raise
        raise AssertionError("unreachable")


def _json_row(row: Row, columns: Sequence[str]) -> Row:
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
