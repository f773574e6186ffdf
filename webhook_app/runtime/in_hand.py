"""The deliveries a worker holds: claimed and not yet recorded, each running or waiting for a thread.

A worker claims ahead, as Celery's prefetch does: up to twice as many deliveries again as it
has threads (three times its threads in hand; Celery's default prefetch is four times its
concurrency), claimed together once its threads have taken up the last ones claimed. So a
thread that finishes finds its next delivery in hand instead of waiting for a claim's round
trip, and one claim serves many deliveries. What is claimed ahead must not be held hostage:
a delivery that has waited `CLAIMED_AHEAD_WAIT` for a thread (every thread held by slow
handlers) is given back for another worker to take, and the worker then claims no more than
its free threads for `NO_CLAIMING_AHEAD_SECONDS`; nor is one attempted whose route this
worker paused after claiming it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, wait
from datetime import timedelta

from webhook_app.model.clock import Clock

logger = logging.getLogger(__name__)

CLAIMED_AHEAD_WAIT = 1.0
"""Seconds a delivery claimed ahead may wait for a thread before it is given back."""
NO_CLAIMING_AHEAD_SECONDS = 10.0
"""After giving deliveries back, how long a worker claims only as many as it has free threads."""


class InHand:
    """Thread-safe where it must be: the lease keeper and the delivering threads read and drop
    ids while the worker's loop adds them."""

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self._futures: dict[Future[None], str] = {}
        self._ids: set[str] = set()
        self._lock = threading.Lock()
        self._claimed_at = 0.0
        self._claim_ahead_from = 0.0
        self._paused_at: dict[str, float] = {}

    def room(self) -> int:
        """How many to claim now: none while some still wait for a thread (those waiting too
        long are then given back: `overdue`); else up to three times the threads, less those held."""
        self._futures = {future: id for future, id in self._futures.items() if not future.done()}
        if len(self._futures) > self.concurrency:
            return 0
        ahead = 2 * self.concurrency if time.monotonic() >= self._claim_ahead_from else 0
        return max(0, self.concurrency + ahead - len(self._futures))

    def overdue(self) -> bool:
        """Whether deliveries claimed ahead have waited too long for a thread."""
        waiting = len(self._futures) > self.concurrency
        return waiting and time.monotonic() - self._claimed_at > CLAIMED_AHEAD_WAIT

    def claimed(self) -> float:
        """A claim is being handed out now; returns its moment, for `was_paused_since`."""
        self._claimed_at = time.monotonic()
        return self._claimed_at

    def add(self, future: Future[None], delivery_id: str) -> None:
        with self._lock:
            self._ids.add(delivery_id)
        self._futures[future] = delivery_id

    def done(self, delivery_id: str) -> None:
        """Its outcome is recorded (or it was given back): its lease is no longer kept."""
        with self._lock:
            self._ids.discard(delivery_id)

    def ids(self) -> set[str]:
        """The deliveries whose leases to keep."""
        with self._lock:
            return set(self._ids)

    def keep_leases(
        self,
        extend: Callable[..., set[str]],
        lease: timedelta,
        clock: Clock,
        drained: threading.Event,
    ) -> None:
        """Every third of the lease until `drained`, extend the leases of the deliveries in
        hand: `extend(ids, until=)` returns those the worker still held."""
        while not drained.wait(lease.total_seconds() / 3):
            in_hand = self.ids()
            try:
                held = extend(sorted(in_hand), until=clock.now() + lease)
            except Exception as exc:  # the next round tries again; the lease has two more thirds
                logger.warning("cannot extend the leases of %d deliveries in hand: %s", len(in_hand), exc)
                continue
            for lost in (in_hand - held) & self.ids():
                logger.warning(
                    "lost the lease of delivery %s while in hand: another worker may deliver it too",
                    lost,
                    extra={"delivery_id": lost},
                )

    def unstarted(self, *, slow: bool = False) -> list[str]:
        """The deliveries no thread has started, taken out of hand (to be given back). `slow`:
        they waited too long, so claim no more than the free threads for a while."""
        taken = [id for future, id in self._futures.items() if future.cancel()]
        for id in taken:
            self.done(id)
        if slow:
            self._claim_ahead_from = time.monotonic() + NO_CLAIMING_AHEAD_SECONDS
        return taken

    def wait(self) -> None:
        """Until every delivery in hand is done."""
        wait(list(self._futures))

    def route_paused(self, route: str) -> None:
        """This worker's attempt paused `route`."""
        self._paused_at[route] = time.monotonic()

    def was_paused_since(self, route: str, claimed_at: float) -> bool:
        """Whether this worker paused `route` after the delivery was claimed at `claimed_at`."""
        return self._paused_at.get(route, 0.0) > claimed_at
