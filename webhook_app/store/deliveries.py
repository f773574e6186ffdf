"""The delivery queue: claimed under a lease, each attempt recorded, retried or ended; replays."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from webhook_app.states import DeliveryStatus
from webhook_app.store.database import Database
from webhook_app.store.lease_queue import LeaseQueue
from webhook_app.store.records import ClaimedDelivery, PlannedDelivery, delivery_row
from webhook_app.store.tables import DUE_STATUSES, attempts, deliveries, events
from webhook_app.wakeup import notify_work

DELIVERY_QUEUE = LeaseQueue(deliveries, deliveries.c.next_attempt_at, deliveries.c.status.in_(DUE_STATUSES))


class DeliveryStore(Database):
    def claim_due_deliveries(
        self, *, worker: str, now: datetime, limit: int, lease: timedelta
    ) -> list[ClaimedDelivery]:
        """Lease up to `limit` due deliveries to `worker` until `now + lease`, with their events."""
        c = deliveries.c
        with self.writing() as conn:
            claimed = DELIVERY_QUEUE.claim(
                conn,
                worker=worker,
                now=now,
                limit=limit,
                lease=lease,
                returning=(c.id, c.event_id, c.route, c.attempts),
                also={"updated_at": now},
            )
            if not claimed:
                return []
            documents = dict(
                conn.execute(
                    sa.select(events.c.id, events.c.document).where(
                        events.c.id.in_({row.event_id for row in claimed})
                    )
                ).all()
            )
        return [
            ClaimedDelivery(row.id, row.event_id, row.route, row.attempts, documents[row.event_id])
            for row in claimed
        ]

    def extend_delivery_leases(self, ids: Sequence[str], *, worker: str, until: datetime) -> set[str]:
        """Hold deliveries still in flight until `until`; returns the ids `worker` still held."""
        if not ids:
            return set()
        with self.writing() as conn:
            return DELIVERY_QUEUE.extend(conn, ids, worker=worker, until=until)

    def next_delivery_due_at(self, after: datetime) -> datetime | None:
        """When the earliest scheduled retry falls due, so an idle worker can sleep until then."""
        with self.reading() as conn:
            return DELIVERY_QUEUE.next_due_at(conn, after)

    def mark_delivery_succeeded(
        self, claim: ClaimedDelivery, *, worker: str, started_at: datetime, finished_at: datetime
    ) -> bool:
        return self._finish_attempt(
            claim,
            worker,
            started_at,
            finished_at,
            "succeeded",
            status=DeliveryStatus.SUCCEEDED.value,
            error=None,
            next_attempt_at=None,
        )

    def schedule_delivery_retry(
        self,
        claim: ClaimedDelivery,
        *,
        worker: str,
        started_at: datetime,
        finished_at: datetime,
        error: str,
        next_attempt_at: datetime,
    ) -> bool:
        return self._finish_attempt(
            claim,
            worker,
            started_at,
            finished_at,
            "failed",
            status=DeliveryStatus.FAILED.value,
            error=error,
            next_attempt_at=next_attempt_at,
        )

    def mark_delivery_dead(
        self, claim: ClaimedDelivery, *, worker: str, started_at: datetime, finished_at: datetime, error: str
    ) -> bool:
        return self._finish_attempt(
            claim,
            worker,
            started_at,
            finished_at,
            "dead",
            status=DeliveryStatus.DEAD.value,
            error=error,
            next_attempt_at=None,
        )

    def _finish_attempt(
        self,
        claim: ClaimedDelivery,
        worker: str,
        started_at: datetime,
        finished_at: datetime,
        outcome: str,
        *,
        status: str,
        error: str | None,
        next_attempt_at: datetime | None,
    ) -> bool:
        """Record the attempt and move the delivery on, if this worker still holds its lease.

        Returns False when the lease was lost (another worker took the delivery over); the
        attempt is kept in the history either way, because it did happen.
        """
        with self.writing() as conn:
            conn.execute(
                attempts.insert().values(
                    delivery_id=claim.id,
                    number=claim.attempts + 1,
                    started_at=started_at,
                    finished_at=finished_at,
                    outcome=outcome,
                    error=error,
                    worker=worker,
                )
            )
            values: dict[str, Any] = {
                "status": status,
                "attempts": deliveries.c.attempts + 1,
                **LeaseQueue.RELEASED,
                "last_error": error,
                "updated_at": finished_at,
            }
            if next_attempt_at is not None:
                values["next_attempt_at"] = next_attempt_at
            result = conn.execute(
                deliveries.update().where(DELIVERY_QUEUE.held_by(claim.id, worker)).values(values)
            )
        return bool(result.rowcount)

    def add_deliveries(self, planned: Sequence[PlannedDelivery], *, now: datetime) -> list[str]:
        """New pending deliveries (replays); earlier deliveries and their attempts stay as they were."""
        rows = [delivery_row(p, now) for p in planned]
        if rows:
            with self.writing() as conn:
                conn.execute(deliveries.insert(), rows)
                notify_work(conn)
        return [str(row["id"]) for row in rows]

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
            )
            .order_by(deliveries.c.created_at, deliveries.c.id)
        )
        if route is not None:
            query = query.where(deliveries.c.route == route)
        if since is not None:
            query = query.where(deliveries.c.updated_at >= since)
        with self.reading() as conn:
            rows = conn.execute(query).all()
        return [PlannedDelivery(event_id=r.event_id, route=r.route, replay_of=r.id) for r in rows]
