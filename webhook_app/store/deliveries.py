"""The delivery queue: claimed under a lease (within each route's pause and rate limit), each
attempt recorded with the route's health and the ops events it raises, retried or ended; replays."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache, partial
from typing import Any

import sqlalchemy as sa

import webhook_app.store.route_health as route_health
from webhook_app.model.events import Event
from webhook_app.model.route_health import delivery_dead
from webhook_app.model.states import AttemptOutcome, DeliveryStatus, PauseReason, RouteState
from webhook_app.model.text import made_storable
from webhook_app.store.database import Database
from webhook_app.store.ingest import insert_events
from webhook_app.store.lease_queue import Claimer, LeaseQueue
from webhook_app.store.records import (
    RESPONSE_CHARS,
    AttemptResult,
    ClaimedDelivery,
    PlannedDelivery,
    RoutePolicy,
)
from webhook_app.store.successes import move_on_succeeded, record_successes
from webhook_app.store.tables import DUE_STATUSES, attempts, deliveries, events, route_states
from webhook_app.store.work_signal import notify_work

_STATUS_AFTER: dict[str, str] = {
    AttemptOutcome.SUCCEEDED.value: DeliveryStatus.SUCCEEDED.value,
    AttemptOutcome.FAILED.value: DeliveryStatus.FAILED.value,
    AttemptOutcome.DEAD.value: DeliveryStatus.DEAD.value,
}


@dataclass(frozen=True)
class RecordedAttempt:
    held: bool
    """Whether this worker still held the lease (else another worker took the delivery over)."""
    raised: list[Event]
    """The ops events the attempt raised, recorded with it."""


_PAUSED_ROUTES = sa.select(route_states.c.route).where(route_states.c.state == RouteState.PAUSED.value)
_ROUTE_PAUSED = deliveries.c.route.in_(_PAUSED_ROUTES)
_ROUTE_HEALTHY = deliveries.c.route.not_in(
    sa.select(route_states.c.route).where(
        (route_states.c.state != RouteState.ACTIVE.value) | (route_states.c.consecutive_failures > 0)
    )
).label("healthy")
"""Whether the delivery's route was active with no failure in a row, read with the claim
itself (both subqueries are uncorrelated: the database reads `route_states` once a claim)."""
_DOCUMENT = (
    sa.select(events.c.document)
    .where(events.c.id == deliveries.c.event_id)
    .scalar_subquery()
    .label("document")
)
"""The delivery's event, returned by the claim itself."""
_CLAIMED = (
    deliveries.c.id,
    deliveries.c.event_id,
    deliveries.c.route,
    deliveries.c.attempts,
    _ROUTE_HEALTHY,
    _DOCUMENT,
)


def _probe(policies: Mapping[str, RoutePolicy], route: str) -> float:
    policy = policies.get(route)
    return policy.probe_seconds if policy else RoutePolicy().probe_seconds


DELIVERY_QUEUE = LeaseQueue(deliveries, deliveries.c.next_attempt_at, deliveries.c.status.in_(DUE_STATUSES))


@lru_cache(maxsize=8)
def _plain_claim(held: tuple[str, ...]) -> Claimer:
    """The claim of the deliveries of active routes but those `held` (rate-limited, or not
    deliverable by this worker), built once for each set of them."""
    where = ~_ROUTE_PAUSED & deliveries.c.route.not_in(held) if held else ~_ROUTE_PAUSED
    return DELIVERY_QUEUE.claimer(_CLAIMED, where, also=("updated_at",))


@dataclass(frozen=True)
class Outcome:
    """An attempt to record: the delivery as claimed, how it went, its route's policy."""

    claim: ClaimedDelivery
    result: AttemptResult
    policy: RoutePolicy


def _storable(text: str | None, limit: int | None = None) -> str | None:
    """What a target said, as text both databases take (PostgreSQL refuses NUL)."""
    return made_storable(text[:limit] if limit else text) if text is not None else None


def _attempt_row(claim: ClaimedDelivery, result: AttemptResult, worker: str) -> dict[str, Any]:
    """The attempt as kept in the history: when, how it went, what the target answered."""
    return {
        "delivery_id": claim.id,
        "number": claim.attempts + 1,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "outcome": result.outcome,
        "error": _storable(result.error),
        "worker": worker,
        "route": claim.route,
        "status_code": result.status_code,
        "duration_ms": round((result.finished_at - result.started_at).total_seconds() * 1000),
        "response": _storable(result.response, RESPONSE_CHARS),
    }


class DeliveryStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._successes_alone = db.engine.dialect.name == "postgresql"
        """Whether a batch of successes is one statement (`store/successes.py`); SQLite, whose
        transactions cost no round trip, writes them in the usual transaction."""

    def claim_due_deliveries(
        self,
        *,
        worker: str,
        now: datetime,
        limit: int,
        lease: timedelta,
        policies: Mapping[str, RoutePolicy] | None = None,
        probes: bool = True,
        skip: Collection[str] = (),
    ) -> list[ClaimedDelivery]:
        """Lease up to `limit` due deliveries to `worker` until `now + lease`, with their events.

        A paused route's deliveries wait (the claim itself leaves them out), except one
        probe every `probe_seconds`, looked for when `probes` is true; a route with a rate
        limit gets one delivery per free slot (`next_send_at`, moved on by its interval).
        Probes and slots are taken in the route's row with a conditional update, so two
        workers never take the same one. Deliveries of the routes in `skip` (this worker cannot
        deliver to them) wait."""
        policies = policies or {}
        limited = sorted(name for name, policy in policies.items() if policy.send_interval)
        plain = _plain_claim(tuple(sorted({*limited, *skip})))  # those routes: per slot below, or not at all
        with self.db.alone(writes=True) as conn:  # the common claim: one statement
            rows = plain(conn, worker=worker, now=now, limit=limit, lease=lease, updated_at=now)
            claimed = [(row, False) for row in rows]
        if (probes or limited) and len(claimed) < limit:
            with self.db.writing() as conn:
                taking = partial(
                    DELIVERY_QUEUE.claim, conn, worker=worker, now=now, lease=lease, returning=_CLAIMED,
                    also={"updated_at": now},
                )  # fmt: skip
                if probes:
                    claimed += self._claim_probes(conn, taking, now, limit - len(claimed), policies)
                if limited and len(claimed) < limit:
                    claimed += self._claim_slots(conn, taking, now, limit - len(claimed), policies, limited)
        return [
            ClaimedDelivery(
                row.id,
                row.event_id,
                row.route,
                row.attempts,
                row.document,
                probe=probe,
                route_healthy=row.healthy is None or bool(row.healthy),
            )
            for row, probe in claimed
        ]

    def _claim_probes(
        self, conn: sa.Connection, claim: Any, now: datetime, room: int, policies: Mapping[str, RoutePolicy]
    ) -> list[tuple[Any, bool]]:
        """The oldest waiting delivery of each route paused by failures whose probe is due."""
        if room <= 0:
            return []
        due = conn.execute(
            sa.select(route_states.c.route, route_states.c.next_probe_at)
            .where(
                route_states.c.state == RouteState.PAUSED.value,
                route_states.c.paused_reason == PauseReason.FAILURES.value,
                route_states.c.next_probe_at <= now,
            )
            .order_by(route_states.c.route)
        ).all()
        claimed: list[tuple[Any, bool]] = []
        for name, seen in due[:room]:
            following = now + timedelta(seconds=_probe(policies, name))
            if self._take(conn, name, "next_probe_at", seen, following):
                claimed += [(probe, True) for probe in claim(limit=1, where=deliveries.c.route == name)]
        return claimed

    def _claim_slots(
        self,
        conn: sa.Connection,
        claim: Any,
        now: datetime,
        room: int,
        policies: Mapping[str, RoutePolicy],
        limited: Sequence[str],
    ) -> list[tuple[Any, bool]]:
        """One delivery for each rate-limited, active route whose next slot has come."""
        slots = conn.execute(
            sa.select(route_states.c.route, route_states.c.next_send_at).where(
                route_states.c.route.in_(limited), route_states.c.state == RouteState.ACTIVE.value
            )
        ).all()
        claimed: list[tuple[Any, bool]] = []
        for name, next_send_at in slots:
            if len(claimed) >= room or (next_send_at is not None and next_send_at > now):
                continue
            taken = claim(limit=1, where=deliveries.c.route == name)
            interval = timedelta(seconds=policies[name].send_interval or 0)
            if taken and self._take(conn, name, "next_send_at", next_send_at, now + interval):
                claimed += [(delivery, False) for delivery in taken]
            elif taken:  # another worker took the slot first
                DELIVERY_QUEUE.release(conn, [delivery.id for delivery in taken])
        return claimed

    @staticmethod
    def _take(conn: sa.Connection, route: str, column: str, seen: datetime | None, new: datetime) -> bool:
        """Move the route's `column` from `seen` to `new` unless another worker moved it first."""
        moved = conn.execute(
            route_states.update()
            .where(route_states.c.route == route, route_states.c[column].is_not_distinct_from(seen))
            .values({column: new})
        )
        return bool(moved.rowcount)

    def release(self, ids: Sequence[str]) -> None:
        """Give leased deliveries back unattempted: due again at once, to any worker."""
        with self.db.writing() as conn:
            DELIVERY_QUEUE.release(conn, list(ids))
            notify_work(conn)

    def extend_delivery_leases(self, ids: Sequence[str], *, worker: str, until: datetime) -> set[str]:
        """Hold deliveries still in flight until `until`; returns the ids `worker` still held."""
        if not ids:
            return set()
        with self.db.writing() as conn:
            return DELIVERY_QUEUE.extend(conn, ids, worker=worker, until=until)

    def next_delivery_due_at(self, after: datetime) -> datetime | None:
        """When the earliest scheduled retry falls due, so an idle worker can sleep until then."""
        with self.db.alone(writes=False) as conn:
            return DELIVERY_QUEUE.next_due_at(conn, after)

    def record_attempt(
        self,
        claim: ClaimedDelivery,
        result: AttemptResult,
        *,
        worker: str,
        policy: RoutePolicy,
        plan: Callable[[Sequence[Event]], list[PlannedDelivery]],
    ) -> RecordedAttempt:
        """One attempt, recorded as `record_attempts` records each."""
        (recorded,) = self.record_attempts([Outcome(claim, result, policy)], worker=worker, plan=plan)
        return recorded

    def record_attempts(
        self,
        outcomes: Sequence[Outcome],
        *,
        worker: str,
        plan: Callable[[Sequence[Event]], list[PlannedDelivery]],
    ) -> list[RecordedAttempt]:
        """Record attempts together, in one transaction: each moves its delivery on and counts
        in its route's health, with the ops events it raises (a dead delivery, a route paused
        or resumed). All of them commit or none does, so a worker that dies while writing
        leaves no attempt half-recorded: its deliveries are claimed again when their leases
        expire.

        A delivery moves on only while this worker holds its lease (`held` says whether
        it did); the attempt is kept in the history either way, because it did happen. A
        failed probe leaves the delivery as it was: a paused route spends no attempts.
        Routes' rows are locked in the order of their names, so two workers recording at
        once never wait on each other in a circle."""
        if not outcomes:
            return []
        rows = [_attempt_row(o.claim, o.result, worker) for o in outcomes]
        if self._successes_alone and all(
            o.result.outcome == AttemptOutcome.SUCCEEDED and o.claim.route_healthy for o in outcomes
        ):
            held = record_successes(self.db, rows, worker)  # they change no route's health: nothing raised
            return [RecordedAttempt(held=o.claim.id in held, raised=[]) for o in outcomes]
        with self.db.writing() as conn:
            conn.execute(attempts.insert(), rows)
            held = self._move_on(conn, outcomes, worker)
            raised: dict[str, list[Event]] = {o.claim.id: [] for o in outcomes}
            for o in sorted(outcomes, key=lambda o: o.claim.route):
                raised[o.claim.id] += self._route_after(conn, o, held=o.claim.id in held)
            every = [event for events in raised.values() for event in events]
            if every:
                insert_events(conn, every, plan(every), max(o.result.finished_at for o in outcomes))
        return [RecordedAttempt(held=o.claim.id in held, raised=raised[o.claim.id]) for o in outcomes]

    @staticmethod
    def _move_on(conn: sa.Connection, outcomes: Sequence[Outcome], worker: str) -> set[str]:
        """Move each delivery this worker still holds to where its attempt leaves it; the ids
        it held. Successes, the common case, in one statement."""
        held: set[str] = set()
        succeeded = [o for o in outcomes if o.result.outcome == AttemptOutcome.SUCCEEDED]
        if succeeded:
            finished = max(o.result.finished_at for o in succeeded)
            held |= move_on_succeeded(conn, [o.claim.id for o in succeeded], worker, finished)
        for o in outcomes:
            if o.result.outcome == AttemptOutcome.SUCCEEDED:
                continue
            values: dict[str, Any] = {**LeaseQueue.RELEASED, "updated_at": o.result.finished_at}
            if o.result.outcome != AttemptOutcome.PROBE_FAILED:
                values |= {
                    "status": _STATUS_AFTER[o.result.outcome],
                    "attempts": deliveries.c.attempts + 1,
                    "last_error": _storable(o.result.error),
                }
            if o.result.next_attempt_at is not None:
                values["next_attempt_at"] = o.result.next_attempt_at
            moved = conn.execute(
                deliveries.update().where(DELIVERY_QUEUE.held_by(o.claim.id, worker)).values(values)
            )
            if moved.rowcount:
                held.add(o.claim.id)
        return held

    def _route_after(self, conn: sa.Connection, o: Outcome, *, held: bool) -> list[Event]:
        """What the attempt changes in its route's health, and the ops events it raises."""
        claim, result = o.claim, o.result
        raised = []
        if not (claim.route_healthy and result.outcome == AttemptOutcome.SUCCEEDED):  # else nothing changes
            raised = route_health.after_attempt(
                self.db,
                conn,
                claim.route,
                result.outcome,
                o.policy,
                result.finished_at,
                _storable(result.error),
            )
        if result.outcome == AttemptOutcome.DEAD and held:
            dead = delivery_dead(
                route=claim.route,
                delivery_id=claim.id,
                event=Event.from_cloudevent(claim.document),
                attempts=claim.attempts + 1,
                error=_storable(result.error),
                at=result.finished_at,
            )
            raised += [dead] if dead is not None else []
        return raised
