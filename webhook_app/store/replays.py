"""Replays: new deliveries of events already delivered (or dead), each replayed at most once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

import webhook_app.store.resolution as resolution
from webhook_app.store.audit import Audit
from webhook_app.store.database import Database
from webhook_app.store.records import PlannedDelivery, delivery_row
from webhook_app.store.tables import deliveries
from webhook_app.store.work_signal import notify_work


class ReplayStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add_deliveries(
        self, planned: Sequence[PlannedDelivery], *, now: datetime, audit: Audit
    ) -> list[str | None]:
        """New pending deliveries (replays), their ids in the order planned; earlier deliveries and
        their attempts stay as they were.

        A delivery is replayed at most once (a unique index on `replay_of`): a replay of one
        that another replay already took up is skipped, and its id is None, however many
        presses race. `audit` counts what was queued, in the same transaction."""
        ids: list[str | None] = []
        if not planned:
            return ids
        with self.db.writing() as conn:
            for p in planned:
                row = delivery_row(p, now)
                if p.replay_of is None:
                    conn.execute(deliveries.insert().values(row))
                    ids.append(str(row["id"]))
                else:
                    added = conn.execute(
                        self.db.insert_ignoring_conflict(deliveries, row).returning(deliveries.c.id)
                    ).scalar()
                    ids.append(added)
            if any(ids):
                notify_work(conn)
                audit.write(conn, counts={"queued": sum(1 for added in ids if added)})
        return ids

    def deliveries_to_retry(
        self, *, status: str, route: str | None = None, since: datetime | None = None
    ) -> list[PlannedDelivery]:
        """Deliveries in `status` that no replay has taken up yet, as replays to plan, oldest first."""
        replay = deliveries.alias("replay")
        query = (
            sa.select(deliveries.c.id, deliveries.c.event_id, deliveries.c.route)
            .where(
                deliveries.c.status == status,
                ~sa.exists().where(replay.c.replay_of == deliveries.c.id),
                ~resolution.resolved(),  # a later delivery of the event to the route succeeded
            )
            .order_by(deliveries.c.created_at, deliveries.c.id)
        )
        if route is not None:
            query = query.where(deliveries.c.route == route)
        if since is not None:
            query = query.where(deliveries.c.updated_at >= since)
        with self.db.reading() as conn:
            rows = conn.execute(query).all()
        return [PlannedDelivery(event_id=r.event_id, route=r.route, replay_of=r.id) for r in rows]
