"""Route health: whether each route is active or paused, its run of failures, and what it did lately.

One row per route in `route_states`, shared by every worker and host, so a pause holds
across restarts and everywhere. The row is updated in the transaction that records an
attempt, so the count of consecutive failures is exact however many workers deliver;
crossing `pause_after_failures` pauses the route and raises `ops.route.paused` in that
same transaction, and a probe that succeeds resumes it with `ops.route.resumed` (the
policy, `model/route_health.py`, decides; this module reads and writes the row).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

import webhook_app.store.resolution as resolution
from webhook_app.model.events import Event
from webhook_app.model.route_health import after_attempt as policy_after_attempt
from webhook_app.model.route_health import pressed
from webhook_app.model.states import AttemptOutcome, DeliveryStatus, RouteState
from webhook_app.store.audit import Audit
from webhook_app.store.database import Database
from webhook_app.store.ingest import insert_events
from webhook_app.store.records import PlannedDelivery, RoutePolicy
from webhook_app.store.tables import attempts, deliveries, route_states
from webhook_app.store.work_signal import notify_work

Planner = Callable[[Sequence[Event]], list[PlannedDelivery]]
"""Which routes an event goes to (the caller knows the routes; the store does not)."""

COUNTED_STATUSES = (DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value, DeliveryStatus.DEAD.value)


def ensure_rows(db: Database, conn: sa.Connection, names: Iterable[str], now: datetime) -> None:
    for name in names:
        conn.execute(
            db.insert_ignoring_conflict(
                route_states,
                {
                    "route": name,
                    "state": RouteState.ACTIVE.value,
                    "consecutive_failures": 0,
                    "paused_seconds": 0.0,
                    "updated_at": now,
                },
            )
        )


def locked_row(db: Database, conn: sa.Connection, route: str, now: datetime) -> Any:
    """The route's row, locked for this transaction (made first if it is new)."""
    ensure_rows(db, conn, [route], now)
    return conn.execute(sa.select(route_states).where(route_states.c.route == route).with_for_update()).one()


def after_attempt(
    db: Database,
    conn: sa.Connection,
    route: str,
    outcome: str,
    policy: RoutePolicy,
    at: datetime,
    error: str | None,
) -> list[Event]:
    """Count the attempt in the route's run; the ops events it raises (paused, resumed).

    A success on a healthy route changes nothing and writes nothing: the route's row is
    locked (and so every worker's attempts on the route taken in turn) only while it fails
    or is paused. When a success reads a healthy row while a failure is being recorded, that
    failure stays in the count until the next success after it resets it."""
    if outcome == AttemptOutcome.SUCCEEDED:
        seen = conn.execute(
            sa.select(route_states.c.state, route_states.c.consecutive_failures).where(
                route_states.c.route == route
            )
        ).first()
        if seen is None or (seen.state == RouteState.ACTIVE and seen.consecutive_failures == 0):
            return []
    row = locked_row(db, conn, route, at)
    change = policy_after_attempt(
        route,
        row,
        outcome,
        pause_after_failures=policy.pause_after_failures,
        probe_seconds=policy.probe_seconds,
        at=at,
        error=error,
    )
    conn.execute(
        route_states.update().where(route_states.c.route == route).values(updated_at=at, **change.values)
    )
    return change.raised


class RouteHealthStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def ensure_routes(self, names: Iterable[str], *, now: datetime) -> None:
        """A state row for every configured route (a rate limit needs one to count in)."""
        with self.db.writing() as conn:
            ensure_rows(self.db, conn, names, now)

    def set_route_paused(
        self, route: str, paused: bool, *, now: datetime, plan: Planner, audit: Audit
    ) -> Event | None:
        """Pause or resume by hand; the ops event it raised, or None when it already was so
        (then nothing is changed, and nothing audited).

        A manual pause is not probed: it lasts until someone resumes the route, and a
        resume starts the count of failures afresh."""
        with self.db.writing() as conn:
            row = locked_row(self.db, conn, route, now)
            change = pressed(route, row, paused, at=now)
            if not change.raised:
                return None
            conn.execute(
                route_states.update()
                .where(route_states.c.route == route)
                .values(updated_at=now, **change.values)
            )
            insert_events(conn, change.raised, plan(change.raised), now)
            audit.write(conn)
            if not paused:
                notify_work(conn)  # its waiting deliveries are due now
        return change.raised[0]

    def paused_routes(self) -> dict[str, dict[str, Any]]:
        """The state rows of the routes paused now: why, since when, and the next probe."""
        with self.db.reading() as conn:
            rows = conn.execute(
                sa.select(route_states).where(route_states.c.state == RouteState.PAUSED.value)
            ).mappings()
            return {row["route"]: dict(row) for row in rows}

    def route_states(self) -> dict[str, dict[str, Any]]:
        """Each route's row, with `last_success_at` (read from the attempts: a success on a
        healthy route writes nothing to the row)."""
        succeeded = attempts.c.outcome == AttemptOutcome.SUCCEEDED.value
        with self.db.reading() as conn:
            rows = conn.execute(sa.select(route_states)).mappings().all()
            states = {row["route"]: dict(row) for row in rows}
            for name, state in states.items():
                state["last_success_at"] = conn.execute(
                    sa.select(sa.func.max(attempts.c.finished_at)).where(attempts.c.route == name, succeeded)
                ).scalar()
        return states

    def route_counts(self) -> dict[str, dict[str, int]]:
        """Deliveries waiting, or dead and not resolved by a later success, per route and status."""
        waiting_or_dead = deliveries.c.status.in_(COUNTED_STATUSES) & ~resolution.resolved()
        query = (
            sa.select(deliveries.c.route, deliveries.c.status, sa.func.count())
            .where(waiting_or_dead)
            .group_by(deliveries.c.route, deliveries.c.status)
        )
        counts: dict[str, dict[str, int]] = {}
        with self.db.reading() as conn:
            for route, status, count in conn.execute(query):
                counts.setdefault(route, dict.fromkeys(COUNTED_STATUSES, 0))[status] = count
        return counts

    def recent_attempts(self, route: str, *, since: datetime) -> dict[str, Any]:
        """Attempts of `route` since `since`: how many, how many succeeded and failed, p50 and p99 ms."""
        mine = sa.and_(attempts.c.route == route, attempts.c.finished_at >= since)
        succeeded = AttemptOutcome.SUCCEEDED.value
        with self.db.reading() as conn:
            total, ok = conn.execute(
                sa.select(
                    sa.func.count(),
                    sa.func.coalesce(sa.func.sum(sa.case((attempts.c.outcome == succeeded, 1))), 0),
                ).where(mine)
            ).one()
            timed = mine & attempts.c.duration_ms.is_not(None)
            measured = conn.execute(sa.select(sa.func.count()).where(timed)).scalar_one()

            def percentile(fraction: float) -> int | None:
                if not measured:
                    return None
                offset = min(measured - 1, int(fraction * measured))
                return conn.execute(
                    sa.select(attempts.c.duration_ms)
                    .where(timed)
                    .order_by(attempts.c.duration_ms)
                    .offset(offset)
                    .limit(1)
                ).scalar_one()

            p50, p99 = percentile(0.5), percentile(0.99)
        return {
            "attempts": int(total),
            "succeeded": int(ok),
            "failed": int(total) - int(ok),
            "p50_ms": p50,
            "p99_ms": p99,
        }

    def next_route_slot_at(self) -> datetime | None:
        """The earliest moment a rate-limited route may send again or a paused one is probed."""
        with self.db.alone(writes=False) as conn:
            send, probe = conn.execute(
                sa.select(sa.func.min(route_states.c.next_send_at), sa.func.min(route_states.c.next_probe_at))
            ).one()
        moments = [m for m in (send, probe) if m is not None]
        return min(moments) if moments else None

    def attempts_of_route(self, route: str, *, limit: int) -> list[dict[str, Any]]:
        """The route's latest attempts, newest first, with what the target answered."""
        query = (
            sa.select(
                attempts.c.finished_at, attempts.c.outcome, attempts.c.status_code, attempts.c.duration_ms,
                attempts.c.response, attempts.c.error, attempts.c.number,
                deliveries.c.id.label("delivery_id"), deliveries.c.event_id,
            )
            .join(deliveries, deliveries.c.id == attempts.c.delivery_id)
            .where(attempts.c.route == route)
            .order_by(attempts.c.finished_at.desc(), attempts.c.id.desc())
            .limit(limit)
        )  # fmt: skip
        with self.db.reading() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]
