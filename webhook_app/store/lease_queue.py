"""Rows as work: due ones are leased to one worker at a time, for a while, and given back.

Deliveries and a polled provider's tracked operations are both queues of this kind. A worker claims due
rows by setting `locked_by`/`locked_until`; PostgreSQL skips rows other workers hold
(`FOR UPDATE SKIP LOCKED`) and SQLite's single writer makes the same statement safe
there. A lease that expires (its worker died) makes the row due again, so nothing is
lost; a worker records an outcome only while it still holds the lease.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa


@dataclass(frozen=True)
class Claimer:
    """A prepared claim: `claimer(conn, worker=, now=, limit=, lease=, **also)` leases rows."""

    statement: sa.Update

    def __call__(
        self, conn: sa.Connection, *, worker: str, now: datetime, limit: int, lease: timedelta, **also: Any
    ) -> list[sa.Row[Any]]:
        if limit <= 0:
            return []
        values = {"worker": worker, "now": now, "until": now + lease, "limit": limit}
        values |= {f"set_{name}": value for name, value in also.items()}
        return list(conn.execute(self.statement, values).all())


@dataclass(frozen=True)
class LeaseQueue:
    table: sa.Table
    due_at: sa.Column[Any]
    """When a row falls due (`next_attempt_at`, `next_poll_at`)."""
    waiting: sa.ColumnElement[bool]
    """Which rows are still to be worked on at all (e.g. `status IN ('pending', 'failed')`)."""

    def claim(
        self,
        conn: sa.Connection,
        *,
        worker: str,
        now: datetime,
        limit: int,
        lease: timedelta,
        returning: Sequence[sa.ColumnElement[Any]],
        also: dict[str, Any] | None = None,
        where: sa.ColumnElement[bool] | None = None,
    ) -> list[sa.Row[Any]]:
        """Lease up to `limit` due rows to `worker` until `now + lease`, oldest due first
        (only rows that also satisfy `where`, when given); `also` sets more columns."""
        claim = self.claimer(returning, where, also=tuple(also or ()))
        return claim(conn, worker=worker, now=now, limit=limit, lease=lease, **(also or {}))

    def claimer(
        self,
        returning: Sequence[sa.ColumnElement[Any]],
        where: sa.ColumnElement[bool] | None = None,
        *,
        also: Sequence[str] = (),
    ) -> Claimer:
        """A claim built once, to run many times (a worker claims several times a second):
        SQLAlchemy then skips rebuilding and re-keying the statement, which cost more than
        the claim's round trip."""
        columns = self.table.c
        now = sa.bindparam("now", type_=self.due_at.type)
        due = (
            sa.select(columns.id)
            .where(
                self.waiting,
                self.due_at <= now,
                sa.or_(columns.locked_until.is_(None), columns.locked_until <= now),
            )
            .where(where if where is not None else sa.true())
            .order_by(self.due_at)
            .limit(sa.bindparam("limit", type_=sa.Integer()))
            .with_for_update(skip_locked=True)
        )
        statement = (
            self.table.update()
            .where(columns.id.in_(due.scalar_subquery()))
            .values(
                locked_by=sa.bindparam("worker", type_=columns.locked_by.type),
                locked_until=sa.bindparam("until", type_=columns.locked_until.type),
                **{name: sa.bindparam(f"set_{name}", type_=columns[name].type) for name in also},
            )
            .returning(*returning)
        )
        return Claimer(statement)

    def extend(self, conn: sa.Connection, ids: Sequence[str], *, worker: str, until: datetime) -> set[str]:
        """Hold rows still in work until `until`; the ids `worker` still held (a lease another
        worker has taken over is left alone, and left out)."""
        if not ids:
            return set()
        columns = self.table.c
        held = conn.execute(
            self.table.update()
            .where(columns.id.in_(ids), columns.locked_by == worker)
            .values(locked_until=until)
            .returning(columns.id)
        ).scalars()
        return set(held)

    def release(self, conn: sa.Connection, ids: Sequence[str]) -> None:
        """Give back rows claimed in this transaction without working on them."""
        conn.execute(self.table.update().where(self.table.c.id.in_(ids)).values(self.RELEASED))

    def held_by(self, row_id: str, worker: str) -> sa.ColumnElement[bool]:
        """The condition under which `worker` may record the outcome of row `row_id`."""
        return sa.and_(self.table.c.id == row_id, self.table.c.locked_by == worker)

    RELEASED = {"locked_by": None, "locked_until": None}
    """The values that give a row back."""

    def next_due_at(self, conn: sa.Connection, after: datetime | None = None) -> datetime | None:
        """When the earliest waiting row falls due (after `after`), so an idle worker can sleep until then."""
        query = sa.select(sa.func.min(self.due_at)).where(self.waiting)
        if after is not None:
            query = query.where(self.due_at > after)
        return conn.execute(query).scalar()
