"""The database handle every part of the store shares: engine, transactions in turn, dialect helpers.

Each write is one short transaction. Callers pass `now` (from the injectable clock), so
the store never reads the wall clock itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from webhook_app.config.settings import Settings
from webhook_app.store.blocking import off_the_event_loop
from webhook_app.store.engine import IMMEDIATE, create_engine, writers_for


class Database:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.writers = writers_for(engine)
        module: Any = postgresql if engine.dialect.name == "postgresql" else sqlite
        self._dialect_insert = module.insert

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 5, sqlite_synchronous: str = "NORMAL") -> Self:
        """A store on `url`; each process holds up to `pool_size` connections, twice that at peaks."""
        engine = create_engine(
            url, pool_size=pool_size, max_overflow=pool_size, sqlite_synchronous=sqlite_synchronous
        )
        return cls(engine)

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls.from_url(
            settings.database_url,
            pool_size=settings.db_pool_size,
            sqlite_synchronous=settings.sqlite_synchronous,
        )

    def dispose(self) -> None:
        self.writers.close()
        self.engine.dispose()

    @contextmanager
    def writing(self) -> Iterator[sa.Connection]:
        """A write transaction, in turn with this process's other writers."""
        with self.writers.turn(), self.engine.connect() as conn:
            conn.execution_options(**{IMMEDIATE: True})
            with conn.begin():
                yield conn

    @contextmanager
    def reading(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def alone(self, *, writes: bool) -> Iterator[sa.Connection]:
        """A connection for one statement, which is atomic by itself. On PostgreSQL it runs
        in autocommit: no BEGIN and no COMMIT, one round trip where a transaction takes three
        (a worker's claim and its idle look at the schedule, several a second each). On
        SQLite, in-process, the usual transaction."""
        if self.engine.dialect.name != "postgresql":
            with self.writing() if writes else self.reading() as conn:
                yield conn
            return
        with self.engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")

    @staticmethod
    def read_all(conn: sa.Connection, query: sa.Executable) -> list[sa.Row[Any]]:
        """Every row of a read that may take a while (a listing's page), run where it does not
        stop a web worker's other requests: in gevent's thread pool there, SQLite's work and
        the rows' decoding leave the event loop free for callbacks."""
        return off_the_event_loop(lambda: list(conn.execute(query).all()))

    def ping(self) -> None:
        with self.reading() as conn:
            conn.execute(sa.text("SELECT 1"))

    def upsert(
        self, table: sa.Table, values: dict[str, Any], *, key: list[str], update: dict[str, Any]
    ) -> Any:
        """An INSERT that, when the row with that `key` exists, sets `update` on it instead, in one
        statement (`ON CONFLICT … DO UPDATE`): concurrent writers each see the other's change."""
        return (
            self._dialect_insert(table).values(values).on_conflict_do_update(index_elements=key, set_=update)
        )

    def insert_ignoring_conflict(self, table: sa.Table, values: dict[str, Any]) -> Any:
        """An INSERT that skips a row whose unique key is taken (`ON CONFLICT DO NOTHING`)."""
        return self._dialect_insert(table).values(values).on_conflict_do_nothing()
