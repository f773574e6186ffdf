"""What an idle worker knows of the schedule: when the next retry, rate-limit slot or probe is due.

An idle worker sleeps until then (or until woken). It used to read that after every round,
and on PostgreSQL an idle worker has a round for every commit that adds work: the reads
cost more than the claims. So what was read is trusted for `SCHEDULE_LOOK`, or until the
moment read has come; the worker's own retries count as it schedules them, and another
worker's are seen within `SCHEDULE_LOOK` at the latest.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from webhook_app.store import Store

SCHEDULE_LOOK = timedelta(seconds=1)
"""How long an idle worker trusts what it read of the schedule."""


class Schedule:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._looked = datetime.min.replace(tzinfo=UTC)
        self._due: datetime | None = None

    def next_due(self, now: datetime) -> datetime | None:
        """The next moment something scheduled falls due, or None if nothing is scheduled."""
        if now - self._looked < SCHEDULE_LOOK and (self._due is None or self._due > now):
            return self._due
        moments = [
            self.store.deliveries.next_delivery_due_at(now),
            self.store.route_health.next_route_slot_at(),
        ]
        self._due = min((moment for moment in moments if moment is not None), default=None)
        self._looked = now
        return self._due

    def scheduled(self, moment: datetime) -> None:
        """This worker scheduled a retry at `moment` (called from its delivering threads)."""
        due = self._due
        if due is None or moment < due:
            self._due = moment
