"""The audit log: who changed what, written in the transaction of the change itself.

A change that commits has its entry; one that rolls back leaves none. An action done in
several short transactions (a bulk retry, a prune) keeps one entry, which each of them
brings up to date (`Audit.write`), so the record never claims more than was committed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from webhook_app.store.cursors import decode_cursor, encode_cursor
from webhook_app.store.database import Database
from webhook_app.store.tables import audit_log


@dataclass
class Audit:
    """One entry to write with a change: `actor` (a key's name, `env-N`, `cli:user@host`),
    `action` (`route.pause`, …), `target` (what it acted on) and `details`."""

    actor: str
    action: str
    target: str
    at: datetime
    details: dict[str, Any] = field(default_factory=dict)
    id: int | None = None

    def write(self, conn: sa.Connection, *, counts: Mapping[str, int] = {}, **facts: Any) -> None:
        """Record the entry inside `conn`'s transaction: `counts` are added to what earlier
        transactions of the same action counted, `facts` set."""
        for name, count in counts.items():
            self.details[name] = self.details.get(name, 0) + count
        self.details.update(facts)
        if self.id is None:
            values = {
                "at": self.at,
                "actor": self.actor[:200],
                "action": self.action,
                "target": self.target[:300],
                "details": self.details,
            }
            self.id = conn.execute(audit_log.insert().values(values).returning(audit_log.c.id)).scalar_one()
        else:
            conn.execute(audit_log.update().where(audit_log.c.id == self.id).values(details=self.details))


@dataclass(frozen=True)
class AuditFilters:
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def entries(
        self, filters: AuditFilters, *, limit: int, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first; the cursor is where the page stopped (ValueError for one not handed out)."""
        query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit + 1)
        for name in ("actor", "action", "target"):
            if (value := getattr(filters, name)) is not None:
                query = query.where(audit_log.c[name] == value)
        if filters.since is not None:
            query = query.where(audit_log.c.at >= filters.since)
        if filters.until is not None:
            query = query.where(audit_log.c.at < filters.until)
        if cursor is not None:
            query = query.where(audit_log.c.id < decode_cursor(cursor).seq)
        with self.db.reading() as conn:
            rows = self.db.read_all(conn, query)
        items = [dict(row._mapping) for row in rows[:limit]]
        next_cursor = encode_cursor(items[-1]["id"]) if len(rows) > limit else None
        return items, next_cursor

    def count(self, *, before: datetime) -> int:
        with self.db.reading() as conn:
            return conn.execute(sa.select(sa.func.count()).where(audit_log.c.at < before)).scalar_one()

    def prune(self, *, before: datetime, audit: Audit) -> int:
        """Delete entries older than `before`; the entry saying so is written in the same transaction."""
        with self.db.writing() as conn:
            removed = conn.execute(audit_log.delete().where(audit_log.c.at < before)).rowcount
            audit.write(conn, counts={"audit_log": removed})
        return removed
