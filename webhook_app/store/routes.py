"""The routes every process reads, and the generation that tells them a route changed.

Every change of a route is a write of its row together with `+1` on the `routes`
generation, made after that generation's row is locked: changes from any process or host
follow one another, and a reader that saw generation N has seen every change up to N.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from webhook_app.model.states import DeliveryStatus
from webhook_app.store.database import Database
from webhook_app.store.lease_queue import LeaseQueue
from webhook_app.store.tables import DUE_STATUSES, deliveries, generations, route_states, routes
from webhook_app.store.work_signal import notify_work

ROUTES_GENERATION = "routes"
DOCUMENT_FIELDS = (
    "name", "handler", "events", "providers", "where", "retry", "rate_limit",
    "pause_after_failures", "probe_seconds", "options",
)  # fmt: skip
"""A route's configuration, as written in TOML (the rest of a row is its bookkeeping)."""
_GENERATION = sa.select(generations.c.generation).where(generations.c.name == ROUTES_GENERATION)


@dataclass(frozen=True)
class StoredRoute:
    document: dict[str, Any]
    """The configuration (`DOCUMENT_FIELDS`), secret options sealed or as `${VAR}`."""
    source: str
    """`file` (the config file's: changed only by it) or `api`."""
    version: int
    created_at: datetime
    updated_at: datetime
    updated_by: str

    @property
    def name(self) -> str:
        return str(self.document["name"])


class RouteStore:
    """The routes table's named queries; a change runs in a write transaction that first takes
    `lock()` and ends with `bump()`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def generation(self) -> int:
        """How many changes of routes there have been (0 before the first): one indexed read."""
        with self.db.reading() as conn:
            return int(conn.execute(_GENERATION).scalar() or 0)

    def all(self) -> tuple[int, list[StoredRoute]]:
        """The generation and every route, by name, read together."""
        with self.db.reading() as conn:
            return int(conn.execute(_GENERATION).scalar() or 0), self.all_in(conn)

    def all_in(self, conn: sa.Connection) -> list[StoredRoute]:
        """Every route, by name, read in the caller's transaction."""
        return [_stored(row) for row in conn.execute(sa.select(routes).order_by(routes.c.name)).mappings()]

    def get(self, conn: sa.Connection, name: str) -> StoredRoute | None:
        row = conn.execute(sa.select(routes).where(routes.c.name == name)).mappings().first()
        return _stored(row) if row is not None else None

    def lock(self, conn: sa.Connection) -> int:
        """Take the routes' turn to change: the generation's row (made at 0 the first time),
        locked until the transaction ends; its generation."""
        conn.execute(
            self.db.insert_ignoring_conflict(generations, {"name": ROUTES_GENERATION, "generation": 0})
        )
        return int(conn.execute(_GENERATION.with_for_update()).scalar_one())

    def bump(self, conn: sa.Connection) -> None:
        """+1 on the generation, once per transaction that changed a route; the commit wakes
        the workers, which then look (a NOTIFY on PostgreSQL)."""
        conn.execute(
            generations.update()
            .where(generations.c.name == ROUTES_GENERATION)
            .values(generation=generations.c.generation + 1)
        )
        notify_work(conn)

    def insert(
        self, conn: sa.Connection, document: Mapping[str, Any], *, source: str, by: str, now: datetime
    ) -> None:
        conn.execute(
            routes.insert().values(
                **document, source=source, version=1, created_at=now, updated_at=now, updated_by=by
            )
        )

    def update(
        self,
        conn: sa.Connection,
        document: Mapping[str, Any],
        *,
        version: int,
        source: str,
        by: str,
        now: datetime,
    ) -> bool:
        """Write the new configuration if the row is still at `version`; whether it was."""
        changed = conn.execute(
            routes.update()
            .where(routes.c.name == document["name"], routes.c.version == version)
            .values(**document, source=source, version=version + 1, updated_at=now, updated_by=by)
        )
        return changed.rowcount == 1

    def delete(self, conn: sa.Connection, name: str) -> bool:
        """The route and its health row (its deliveries' history stays)."""
        conn.execute(route_states.delete().where(route_states.c.route == name))
        return conn.execute(routes.delete().where(routes.c.name == name)).rowcount == 1

    def waiting(self, conn: sa.Connection, name: str) -> int:
        """Its deliveries not yet succeeded or dead."""
        query = sa.select(sa.func.count()).where(
            deliveries.c.route == name, deliveries.c.status.in_(DUE_STATUSES)
        )
        return int(conn.execute(query).scalar_one())

    def discard(self, conn: sa.Connection, name: str, reason: str, *, now: datetime) -> int:
        """End its waiting deliveries as dead with `reason`; how many there were."""
        return conn.execute(
            deliveries.update()
            .where(deliveries.c.route == name, deliveries.c.status.in_(DUE_STATUSES))
            .values(
                status=DeliveryStatus.DEAD.value, last_error=reason, updated_at=now, **LeaseQueue.RELEASED
            )
        ).rowcount


def _stored(row: Any) -> StoredRoute:
    return StoredRoute(
        document={field: row[field] for field in DOCUMENT_FIELDS},
        source=row["source"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
    )
