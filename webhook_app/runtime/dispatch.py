"""The dispatcher: claim due deliveries, run their route's handler, record the outcome.

Delivery is at-least-once per route: a delivery is leased, not removed, so a worker that
dies mid-delivery leaves it to be claimed again once the lease expires. A live worker
extends the leases of the deliveries it holds every third of the lease, so a handler slower
than the lease is not started a second time elsewhere. Routes are isolated: each delivery
is its own row with its own schedule, and slow handlers only occupy one of `concurrency`
threads.

A worker claims ahead of its threads (`in_hand.py`); those not started when it stops are
given back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from webhook_app.config.plugins import build_handlers
from webhook_app.errors import ConfigError, HandlerError, PermanentError, RetryableError
from webhook_app.model import signals
from webhook_app.model.clock import Clock, SystemClock
from webhook_app.model.events import Event, EventType
from webhook_app.model.routes import Route
from webhook_app.model.states import AttemptOutcome
from webhook_app.plugins.handler import Delivered, Handler
from webhook_app.runtime.in_hand import InHand
from webhook_app.runtime.schedule import Schedule
from webhook_app.runtime.wakeup import LISTENING_FALLBACK_SECONDS, Wakeup
from webhook_app.runtime.worker import Job, new_worker_id
from webhook_app.store import ClaimedDelivery, Store
from webhook_app.store.deliveries import Outcome, RecordedAttempt
from webhook_app.store.group_commit import GroupCommit, each_alone_if_refused
from webhook_app.store.records import AttemptResult, RoutePolicy
from webhook_app.usecases.ingest import plan_deliveries
from webhook_app.usecases.route_book import LiveRoutes

logger = logging.getLogger(__name__)

PROBE_LOOK_INTERVAL = timedelta(seconds=1)
"""How often a dispatcher looks for paused routes whose probe is due (`probe_seconds` ≥ 1)."""


ROUTES_LOOK_SECONDS = 1.0
"""The longest an idle worker that follows the database's routes waits before it looks again."""


class Dispatcher(Job):
    name = "dispatcher"

    def __init__(
        self,
        store: Store,
        routes: tuple[Route, ...],
        handlers: dict[str, Handler],
        *,
        clock: Clock | None = None,
        worker_id: str | None = None,
        lease_seconds: float = 60.0,
        concurrency: int = 8,
        poll_interval: float = 0.5,
        wakeup: Wakeup | None = None,
        follow: LiveRoutes | None = None,
        public_url: str | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.follow = follow
        """The routes in the database, followed as they change (else the routes given stay)."""
        self.public_url = public_url
        self._generation: int | None = None
        self.broken: frozenset[str] = frozenset()
        self.routes = {route.name: route for route in routes}
        self.handlers = handlers
        self.clock = clock or SystemClock()
        self.worker_id = worker_id or new_worker_id()
        self.lease = timedelta(seconds=lease_seconds)
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        if wakeup is not None:
            self.wakeup = wakeup
        self._in_hand = InHand(concurrency)
        self._more_due = False
        """Whether deliveries may be due that this worker did not claim for want of room."""
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="deliver")
        self._outcomes: GroupCommit[Outcome, RecordedAttempt] = GroupCommit(self._write_outcomes)
        self._drained = threading.Event()  # leases are kept until the last handler returns
        extend = partial(self.store.deliveries.extend_delivery_leases, worker=self.worker_id)
        keep = partial(self._in_hand.keep_leases, extend, self.lease, self.clock, self._drained)
        self._keeper = threading.Thread(target=keep, name="lease-keeper", daemon=True)
        self._retired: list[Handler] = []
        self._free_after_round = 0
        self.policies = policies_of(routes)
        self._routes_known = False
        self._probes_looked_for_at = datetime.min.replace(tzinfo=UTC)
        self._schedule = Schedule(store)

    def start(self) -> None:
        self._keeper.start()

    def run_once(self) -> int:
        """Claim due deliveries as `InHand` has room for, and hand them to the threads."""
        free = self._free_after_round = self._in_hand.room()
        if self._in_hand.overdue():
            self._give_back(self._in_hand.unstarted(slow=True))
        if free <= 0:
            self._more_due = True  # maybe woken for work there was no room for: look when a thread frees
            return 0
        self._follow_routes()
        if not self._routes_known:
            self.store.route_health.ensure_routes(self.routes, now=self.clock.now())
            self._routes_known = True
        now = self.clock.now()
        look_for_probes = now >= self._probes_looked_for_at + PROBE_LOOK_INTERVAL
        if look_for_probes:
            self._probes_looked_for_at = now
        claims = self.store.deliveries.claim_due_deliveries(
            worker=self.worker_id,
            now=now,
            limit=free,
            lease=self.lease,
            policies=self.policies,
            probes=look_for_probes,
            skip=self.broken,
        )
        claimed_at = self._in_hand.claimed()
        self._more_due = len(claims) == free
        for claim in claims:
            future = self._pool.submit(self.deliver, claim, claimed_at)
            future.add_done_callback(self._thread_freed)
            self._in_hand.add(future, claim.id)
        self._free_after_round = free - len(claims)
        return len(claims)

    def _thread_freed(self, _: Future[None]) -> None:
        """Claim again at once if the last claim left some due (it took as many as it asked
        for); else the next is claimed when a commit adds one (a claim per finished delivery
        found nothing but cost a round trip)."""
        if self._more_due:
            self.wakeup.set()

    def idle_seconds(self, claimed: int) -> float:
        """Until woken (a notification, a free thread), the next scheduled retry, or the
        fallback poll, whichever comes first; the poll interval while every thread is busy."""
        if self._free_after_round <= 0 or not self.wakeup.listening:
            return self.poll_interval
        now = self.clock.now()
        due = self._schedule.next_due(now)
        # A route change wakes the worker too, but it may come while the routes read a moment
        # ago are still taken as current: look again within a second.
        longest = LISTENING_FALLBACK_SECONDS if self.follow is None else ROUTES_LOOK_SECONDS
        if due is None:
            return longest
        return min(longest, max(0.01, (due - now).total_seconds()))

    def wait_for_running(self) -> None:
        """Until the deliveries claimed so far are done and their outcomes recorded."""
        self._in_hand.wait()

    def finish(self) -> None:
        """Give back the deliveries no thread has started, and wait for those running now,
        keeping their leases meanwhile."""
        self._give_back(self._in_hand.unstarted())
        self.wait_for_running()
        self._drained.set()
        if self._keeper.is_alive():
            self._keeper.join()

    def _give_back(self, ids: Sequence[str]) -> None:
        """Release deliveries unattempted: due at once, to any worker."""
        if not ids:
            return
        try:
            self.store.deliveries.release(ids)
        except Exception as exc:  # their leases expire: another worker takes them then
            logger.warning("cannot give back %d deliveries: %s", len(ids), exc)
            return
        logger.info("gave back %d deliveries not started", len(ids))

    def _follow_routes(self) -> None:
        """Deliver with the database's routes as they are now: read again once they changed."""
        if self.follow is None:
            return
        current = self.follow.current()
        if current.generation == self._generation:
            return
        try:
            handlers = build_handlers(current.usable, "the database", self.public_url)
        except ConfigError as exc:  # load() checked each route; a plugin may still refuse
            logger.error(
                "routes of generation %d not used, keeping those in use: %s", current.generation, exc
            )
            return
        self.replace_routes(current.usable, handlers)
        self.broken = frozenset(current.broken)
        logger.info("routes: generation %d in use, %d route(s)", current.generation, len(current.routes))
        for name, why in current.broken.items():
            logger.error(
                "route %s cannot deliver here, its deliveries wait: %s", name, why, extra={"route": name}
            )
        self._generation = current.generation

    def replace_routes(self, routes: tuple[Route, ...], handlers: dict[str, Handler]) -> None:
        """Deliver with new routes from now on. A delivery already running keeps its handler,
        so the old ones are closed with the dispatcher, not now."""
        self._retired += self.handlers.values()
        self.routes, self.handlers = {route.name: route for route in routes}, handlers
        self.policies = policies_of(routes)
        self._routes_known = False

    def _write_outcomes(self, outcomes: Sequence[Outcome]) -> list[RecordedAttempt | Exception]:
        """One transaction for the batch; if it fails, each alone, so one attempt the database
        refuses does not take the others' records with it."""
        plan = partial(plan_deliveries, routes=tuple(self.routes.values()))
        record = partial(self.store.deliveries.record_attempts, worker=self.worker_id, plan=plan)
        return each_alone_if_refused(record, outcomes, refused=(SQLAlchemyError,))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for handler in [*self.handlers.values(), *self._retired]:
            handler.close()

    def deliver(self, claim: ClaimedDelivery, claimed_at: float) -> None:
        """Run one delivery and record its outcome; never raises. One whose route this worker
        paused since it was claimed (at monotonic `claimed_at`) is given back unattempted."""
        context = {"delivery_id": claim.id, "event_id": claim.event_id, "route": claim.route}
        try:
            if not claim.probe and self._in_hand.was_paused_since(claim.route, claimed_at):
                self._give_back([claim.id])
            else:
                self._deliver(claim, context)
        except Exception:
            # The lease will expire and the delivery will be tried again: nothing is lost.
            logger.exception("could not record the outcome of delivery %s", claim.id, extra=context)
        finally:
            self._in_hand.done(claim.id)

    def _deliver(self, claim: ClaimedDelivery, context: dict[str, str]) -> None:
        started = self.clock.now()
        route = self.routes.get(claim.route)
        handler = self.handlers.get(claim.route)
        event = Event.from_cloudevent(claim.document)
        if route is None or handler is None:
            if self.follow is not None and self.follow.refresh().find(claim.route) is not None:
                self.store.deliveries.release([claim.id])  # a route made since this worker last looked
                self.wakeup.set()
                return
            self._dead(claim, event, started, f"route '{claim.route}' is no longer configured", None, context)
            return
        try:
            answer = handler.handle(event)
        except PermanentError as exc:
            self._dead(claim, event, started, f"permanent error: {exc}", exc, context)
        except RetryableError as exc:
            self._failed(claim, event, route, started, str(exc), exc, context)
        except Exception as exc:
            logger.warning("handler of route %s raised %r", claim.route, exc, extra=context, exc_info=True)
            self._failed(claim, event, route, started, f"{type(exc).__name__}: {exc}", None, context)
        else:
            self._record(claim, _result(AttemptOutcome.SUCCEEDED, started, self.clock.now(), answered=answer))
            logger.info("delivered %s to %s", claim.event_id, claim.route, extra=context)
            self._announce(signals.delivery_succeeded, claim, event, None)

    def _announce(self, signal: Any, claim: ClaimedDelivery, event: Event, error: str | None) -> None:
        signal.send(
            self,
            event=event,
            route=claim.route,
            delivery_id=claim.id,
            attempt=claim.attempts + 1,
            error=error,
        )

    def _record(self, claim: ClaimedDelivery, result: AttemptResult) -> None:
        """Record the attempt, with those the other threads finish meanwhile (one commit for
        them all); announce and log the ops events it raised."""
        recorded = self._outcomes.submit(
            Outcome(claim, result, self.policies.get(claim.route, RoutePolicy()))
        )
        for raised in recorded.raised:
            if raised.type == EventType.OPS_ROUTE_PAUSED:
                self._in_hand.route_paused(claim.route)
            logger.warning(
                "%s: %s", raised.type, raised.subject, extra={"event_id": raised.id, "route": claim.route}
            )
            signals.event_recorded.send(self.store, event=raised)

    def _failed(
        self,
        claim: ClaimedDelivery,
        event: Event,
        route: Route,
        started: datetime,
        error: str,
        exc: HandlerError | None,
        context: dict[str, str],
    ) -> None:
        finished = self.clock.now()
        if claim.probe:
            self._record(claim, _result(AttemptOutcome.PROBE_FAILED, started, finished, error, exc))
            logger.warning("probe of paused route %s failed: %s", claim.route, error, extra=context)
            self._announce(signals.delivery_failed, claim, event, error)
            return
        failed_attempts = claim.attempts + 1
        if route.retry.gives_up_after(failed_attempts):
            self._dead(
                claim, event, started, f"gave up after {failed_attempts} attempts: {error}", exc, context
            )
            return
        retry_after = exc.retry_after if isinstance(exc, RetryableError) else None
        delay = route.retry.next_delay(failed_attempts, retry_after=retry_after)
        retry_at = finished + timedelta(seconds=delay)
        self._schedule.scheduled(retry_at)
        self._record(claim, _result(AttemptOutcome.FAILED, started, finished, error, exc, retry_at))
        logger.warning(
            "delivery to %s failed (attempt %d), retrying in %.1fs: %s",
            claim.route,
            failed_attempts,
            delay,
            error,
            extra=context,
        )
        self._announce(signals.delivery_failed, claim, event, error)

    def _dead(
        self,
        claim: ClaimedDelivery,
        event: Event,
        started: datetime,
        error: str,
        exc: HandlerError | None,
        context: dict[str, str],
    ) -> None:
        self._record(claim, _result(AttemptOutcome.DEAD, started, self.clock.now(), error, exc))
        logger.error("delivery to %s is dead: %s", claim.route, error, extra=context)
        if event.type.is_ops:
            logger.error("no ops event is raised about an ops event's dead delivery", extra=context)
        self._announce(signals.delivery_dead, claim, event, error)


def policies_of(routes: Iterable[Route]) -> dict[str, RoutePolicy]:
    return {
        route.name: RoutePolicy(route.pause_after_failures, route.probe_seconds, route.send_interval)
        for route in routes
    }


def _result(
    outcome: AttemptOutcome,
    started: datetime,
    finished: datetime,
    error: str | None = None,
    exc: HandlerError | None = None,
    retry_at: datetime | None = None,
    answered: Delivered | None = None,
) -> AttemptResult:
    """The attempt as recorded, with what the target answered (from the handler's answer or error)."""
    said = answered or exc
    response = said.response if said else None
    return AttemptResult(
        outcome.value,
        started,
        finished,
        error,
        next_attempt_at=retry_at,
        status_code=said.status_code if said else None,
        response=response,
    )
