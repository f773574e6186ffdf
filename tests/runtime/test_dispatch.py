"""The dispatcher against a real store: outcomes, retries, dead letters, leases, isolation."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from tests.conftest import deliver_due, load_fixture, succeed, wait_until
from tests.sink import Reply, Sink
from tests.sink_handlers import SinkHandler
from webhook_app.errors import PermanentError, RetryableError
from webhook_app.model import signals
from webhook_app.model.events import Event
from webhook_app.model.retry import RetryPolicy
from webhook_app.model.routes import Route
from webhook_app.model.states import AttemptOutcome
from webhook_app.plugins.handler import Handler
from webhook_app.providers.resemble import callbacks as resemble
from webhook_app.runtime.dispatch import Dispatcher, _result
from webhook_app.runtime.worker import Worker
from webhook_app.store import ClaimedDelivery, NewReceipt, Store
from webhook_app.store.deliveries import DeliveryStore, Outcome
from webhook_app.store.records import RoutePolicy
from webhook_app.usecases.ingest import record_events

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime = START) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment

    def advance_to(self, moment: datetime) -> None:
        self.moment = moment


class Scripted(Handler):
    """Raises the queued exceptions in order, then succeeds; records what it saw."""

    def __init__(self, *outcomes: Exception | None) -> None:
        super().__init__({})
        self.outcomes = list(outcomes)
        self.seen: list[Event] = []

    def handle(self, event: Event) -> None:
        self.seen.append(event)
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome


def ingest(
    store: Store, routes: tuple[Route, ...], clock: FakeClock, name: str = "resemble_dataset_issue.json"
) -> str:
    body = load_fixture(name)
    receipt = NewReceipt(provider="resemble", received_at=clock.now(), body=b"{}", headers={})
    events = resemble.to_events(
        resemble.validate_callback(body), receipt_id=receipt.id, received_at=clock.now()
    )
    record_events(store, routes, receipt, events, dedupe_key=None, dedupe_window=timedelta(0))
    return events[0].id


def dispatcher(
    store: Store, routes: tuple[Route, ...], handlers: dict[str, Handler], clock: FakeClock, **kw: Any
) -> Dispatcher:
    return Dispatcher(store, routes, handlers, clock=clock, lease_seconds=30, **kw)


def only_delivery(store: Store, event_id: str) -> dict[str, Any]:
    (delivery,) = store.reads.deliveries_of(event_id)
    return delivery


def test_a_successful_handler_gets_the_normalized_event_once(store: Store) -> None:
    clock = FakeClock()
    route = Route(name="r", handler="x")
    handler = Scripted()
    event_id = ingest(store, (route,), clock)
    d = dispatcher(store, (route,), {"r": handler}, clock)
    assert deliver_due(d) == 1
    assert deliver_due(d) == 0
    (event,) = handler.seen
    assert event.id == event_id and event.data.recordings[0].stoi_score == pytest.approx(0.41)
    delivery = only_delivery(store, event_id)
    assert delivery["status"] == "succeeded"
    assert [a["outcome"] for a in delivery["attempts"]] == ["succeeded"]


def test_failures_retry_with_growing_delays_then_die_after_max_attempts(store: Store) -> None:
    clock = FakeClock()
    route = Route(
        name="r", handler="x", retry=RetryPolicy(max_attempts=5, base_seconds=10, factor=2, max_seconds=3600)
    )
    handler = Scripted(*[RetryableError("sink down")] * 10)
    event_id = ingest(store, (route,), clock)
    d = dispatcher(store, (route,), {"r": handler}, clock)
    delays = []
    for attempt in range(1, 6):
        assert deliver_due(d) == 1
        delivery = only_delivery(store, event_id)
        if attempt < 5:
            assert delivery["status"] == "failed"
            assert deliver_due(d) == 0, "not due again before its delay"
            delays.append((delivery["next_attempt_at"] - clock.now()).total_seconds())
            clock.advance_to(delivery["next_attempt_at"])
    assert delivery["status"] == "dead"
    assert [a["outcome"] for a in delivery["attempts"]] == ["failed"] * 4 + ["dead"]
    assert "gave up after 5 attempts: sink down" in delivery["last_error"]
    assert len(handler.seen) == 5
    assert all(later > earlier for earlier, later in zip(delays, delays[1:], strict=False)), delays
    assert 5 <= delays[0] <= 10 and 40 <= delays[3] <= 80


def test_permanent_error_is_dead_at_once(store: Store) -> None:
    clock = FakeClock()
    route = Route(name="r", handler="x")
    event_id = ingest(store, (route,), clock)
    deliver_due(dispatcher(store, (route,), {"r": Scripted(PermanentError("webhook URL revoked"))}, clock))
    delivery = only_delivery(store, event_id)
    assert delivery["status"] == "dead"
    assert delivery["attempts"][0]["error"] == "permanent error: webhook URL revoked"


def test_unexpected_exception_is_retried_not_lost(store: Store) -> None:
    clock = FakeClock()
    route = Route(name="r", handler="x")
    event_id = ingest(store, (route,), clock)
    d = dispatcher(store, (route,), {"r": Scripted(KeyError("bug"))}, clock)
    deliver_due(d)
    delivery = only_delivery(store, event_id)
    assert delivery["status"] == "failed" and "KeyError" in delivery["last_error"]
    clock.advance_to(delivery["next_attempt_at"])
    deliver_due(d)
    assert only_delivery(store, event_id)["status"] == "succeeded"


def test_retry_after_from_the_target_sets_the_next_attempt(store: Store) -> None:
    clock = FakeClock()
    route = Route(name="r", handler="x")
    event_id = ingest(store, (route,), clock)
    deliver_due(dispatcher(store, (route,), {"r": Scripted(RetryableError("429", retry_after=120))}, clock))
    assert only_delivery(store, event_id)["next_attempt_at"] == START + timedelta(seconds=120)


def test_a_delivery_for_a_route_no_longer_configured_is_dead_with_a_reason(store: Store) -> None:
    clock = FakeClock()
    event_id = ingest(store, (Route(name="removed", handler="x"),), clock)
    deliver_due(dispatcher(store, (), {}, clock))
    delivery = only_delivery(store, event_id)
    assert delivery["status"] == "dead" and "no longer configured" in delivery["last_error"]


def test_signals_report_each_outcome(store: Store) -> None:
    clock = FakeClock()
    routes = (
        Route(name="ok", handler="x"),
        Route(name="retry", handler="x"),
        Route(name="dead", handler="x"),
    )
    ingest(store, routes, clock)
    received: list[tuple[str, str, int]] = []

    def listener(name: str) -> Any:
        return lambda _sender, **kw: received.append((name, kw["route"], kw["attempt"]))

    receivers = {
        signals.delivery_succeeded: listener("succeeded"),
        signals.delivery_failed: listener("failed"),
        signals.delivery_dead: listener("dead"),
    }
    for signal, receiver in receivers.items():
        signal.connect(receiver)
    try:
        handlers = {
            "ok": Scripted(),
            "retry": Scripted(RetryableError("x")),
            "dead": Scripted(PermanentError("x")),
        }
        deliver_due(dispatcher(store, routes, handlers, clock))
    finally:
        for signal, receiver in receivers.items():
            signal.disconnect(receiver)
    assert sorted(received) == [("dead", "dead", 1), ("failed", "retry", 1), ("succeeded", "ok", 1)]


def test_a_leased_delivery_is_not_claimed_twice_until_the_lease_expires(store: Store) -> None:
    clock = FakeClock()
    route = Route(name="r", handler="x")
    ingest(store, (route,), clock)
    lease = timedelta(seconds=30)
    (claim,) = store.deliveries.claim_due_deliveries(worker="a", now=clock.now(), limit=10, lease=lease)
    assert (
        store.deliveries.claim_due_deliveries(
            worker="b", now=clock.now() + timedelta(seconds=29), limit=10, lease=lease
        )
        == []
    )
    (reclaimed,) = store.deliveries.claim_due_deliveries(
        worker="b", now=clock.now() + timedelta(seconds=30), limit=10, lease=lease
    )
    assert reclaimed.id == claim.id
    # The first worker lost its lease: its late result is kept as history but does not move the delivery.
    assert not succeed(store, claim, "a", clock.now()).held
    assert succeed(store, reclaimed, "b", clock.now()).held
    (delivery,) = store.reads.deliveries_of(claim.event_id)
    assert delivery["status"] == "succeeded" and len(delivery["attempts"]) == 2


def test_only_the_holder_extends_a_lease(store: Store) -> None:
    clock = FakeClock()
    ingest(store, (Route(name="r", handler="x"),), clock)
    lease = timedelta(seconds=30)
    (claim,) = store.deliveries.claim_due_deliveries(worker="a", now=clock.now(), limit=10, lease=lease)
    later = clock.now() + timedelta(seconds=60)
    assert store.deliveries.extend_delivery_leases([claim.id], worker="b", until=later) == set()
    assert store.deliveries.extend_delivery_leases([claim.id], worker="a", until=later) == {claim.id}
    # Held until `later` now: not due at the old expiry, due at the new one.
    assert (
        store.deliveries.claim_due_deliveries(worker="b", now=clock.now() + lease, limit=10, lease=lease)
        == []
    )
    (taken,) = store.deliveries.claim_due_deliveries(worker="b", now=later, limit=10, lease=lease)
    assert taken.id == claim.id
    assert store.deliveries.extend_delivery_leases([claim.id], worker="a", until=later + lease) == set()


class Slow(Handler):
    """Takes `seconds` per event; counts its calls."""

    def __init__(self, seconds: float) -> None:
        super().__init__({})
        self.seconds = seconds
        self.calls = 0
        self._lock = threading.Lock()

    def handle(self, event: Event) -> None:
        with self._lock:
            self.calls += 1
        time.sleep(self.seconds)


@pytest.mark.slow
def test_a_handler_slower_than_the_lease_runs_once(store: Store) -> None:
    """Two workers, a 1.5 s lease, a 4 s handler: the running worker keeps extending its lease."""
    route = Route(name="slow", handler="x")
    event_id = ingest(store, (route,), FakeClock(datetime.now(UTC)))
    handler = Slow(4.0)
    handlers: dict[str, Handler] = {"slow": handler}
    workers = [
        Dispatcher(store, (route,), handlers, worker_id=f"w{n}", lease_seconds=1.5, poll_interval=0.05)
        for n in range(2)
    ]
    stop = threading.Event()
    threads = [threading.Thread(target=Worker([w]).run, args=(stop,)) for w in workers]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: only_delivery(store, event_id)["status"] == "succeeded", timeout=15)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert handler.calls == 1
    assert len(only_delivery(store, event_id)["attempts"]) == 1


def test_a_slow_failing_route_does_not_delay_another(store: Store, sink: Sink) -> None:
    """Route `slow` hangs on a real HTTP sink; route `fast` is delivered meanwhile."""
    slow_sink = Sink()
    slow_sink.release.clear()  # hold every request until released
    routes = (
        Route(name="slow", handler="tests.sink_handlers:SinkHandler", options={"url": slow_sink.url}),
        Route(name="fast", handler="tests.sink_handlers:SinkHandler", options={"url": sink.url}),
    )
    handlers: dict[str, Handler] = {
        "slow": SinkHandler.from_route_options({"url": slow_sink.url, "timeout_seconds": 10}),
        "fast": SinkHandler.from_route_options({"url": sink.url}),
    }
    clock = FakeClock(datetime.now(UTC))
    event_ids = [ingest(store, routes, clock), ingest(store, routes, clock, "resemble_finished.json")]
    d = Dispatcher(store, routes, handlers, lease_seconds=30, concurrency=4, poll_interval=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=Worker([d]).run, args=(stop,))
    thread.start()
    try:

        def statuses(route: str) -> list[str]:
            return [
                d["status"] for e in event_ids for d in store.reads.deliveries_of(e) if d["route"] == route
            ]

        wait_until(lambda: statuses("fast") == ["succeeded", "succeeded"], timeout=5)
        assert len(sink.requests) == 2
        # The fast ones may finish before the second slow request has reached its sink.
        wait_until(lambda: len(slow_sink.requests) == 2, timeout=5)
        assert len(slow_sink.requests) == 2, "both slow deliveries are in flight, held by the sink"
        assert statuses("slow") == ["pending", "pending"]
    finally:
        slow_sink.release.set()
        stop.set()
        thread.join(10)
        slow_sink.close()
    assert not thread.is_alive()
    assert {d["status"] for e in event_ids for d in store.reads.deliveries_of(e)} == {"succeeded"}


def test_sink_errors_map_to_retry_and_dead(store: Store, sink: Sink) -> None:
    clock = FakeClock()
    route = Route(name="s", handler="tests.sink_handlers:SinkHandler", options={"url": sink.url})
    event_id = ingest(store, (route,), clock)
    d = dispatcher(store, (route,), {"s": SinkHandler.from_route_options({"url": sink.url})}, clock)
    sink.respond = lambda _: Reply(status=503)
    deliver_due(d)
    delivery = only_delivery(store, event_id)
    assert delivery["status"] == "failed" and delivery["last_error"] == "sink answered 503"
    sink.respond = lambda _: Reply(status=410)
    clock.advance_to(delivery["next_attempt_at"])
    deliver_due(d)
    assert only_delivery(store, event_id)["status"] == "dead"
    assert [r.json()["id"] for r in sink.requests] == [event_id, event_id]


def _claimed(store: Store, count: int) -> tuple[list[str], Dispatcher, list[ClaimedDelivery]]:
    """`count` events of one route, and their deliveries claimed by a new dispatcher."""
    clock = FakeClock()
    route = Route(name="r", handler="x")
    event_ids = [ingest(store, (route,), clock) for _ in range(count)]
    d = dispatcher(store, (route,), {"r": Scripted()}, clock)
    claims = store.deliveries.claim_due_deliveries(
        worker=d.worker_id, now=clock.now(), limit=10, lease=d.lease
    )
    return event_ids, d, claims


def _succeeded(claims: list[ClaimedDelivery]) -> list[Outcome]:
    now = datetime.now(UTC)
    return [Outcome(c, _result(AttemptOutcome.SUCCEEDED, now, now), RoutePolicy()) for c in claims]


def test_a_batch_of_outcomes_the_database_refuses_records_none_and_then_each_alone(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outcomes are written together: a batch that fails part-way leaves no attempt and keeps every
    lease (its deliveries are tried again when they expire); the dispatcher then records the
    others alone, so one refused attempt does not cost the rest their records. Here the
    transaction that also counts each attempt in its route's health (claimed while the route
    had failures)."""
    event_ids, d, claims = _claimed(store, 4)
    claims = [dataclasses.replace(c, route_healthy=False) for c in claims]
    outcomes = _succeeded(claims)
    refused = claims[2].id
    real_move_on = DeliveryStore._move_on

    def refusing(conn: Any, batch: Any, worker: str) -> set[str]:
        moved = real_move_on(conn, batch, worker)  # the batch's attempts are inserted by now
        if any(o.claim.id == refused for o in batch):
            raise OperationalError("UPDATE deliveries", {}, Exception("the database refused"))
        return moved

    monkeypatch.setattr(DeliveryStore, "_move_on", staticmethod(refusing))
    with pytest.raises(OperationalError):
        store.deliveries.record_attempts(outcomes, worker=d.worker_id, plan=lambda _: [])
    assert all(store.reads.deliveries_of(e)[0]["attempts"] == [] for e in event_ids), "none half-recorded"

    answers = d._write_outcomes(outcomes)
    assert [isinstance(a, OperationalError) for a in answers] == [False, False, True, False]
    recorded = {c.id: store.reads.deliveries_of(c.event_id)[0] for c in claims}
    assert [recorded[c.id]["status"] for c in claims] == ["succeeded", "succeeded", "pending", "succeeded"]
    assert [len(recorded[c.id]["attempts"]) for c in claims] == [1, 1, 0, 1]
    d.close()


def test_a_batch_of_successes_the_database_refuses_records_none_and_then_each_alone(store: Store) -> None:
    """Successes of healthy routes, the common batch (one statement on PostgreSQL): one
    attempt the database refuses (its delivery does not exist) leaves none of the batch
    recorded, and the others are then recorded alone."""
    event_ids, d, claims = _claimed(store, 4)
    assert all(c.route_healthy for c in claims)
    claims[2] = dataclasses.replace(claims[2], id="no-such-delivery")
    outcomes = _succeeded(claims)
    with pytest.raises(IntegrityError):
        store.deliveries.record_attempts(outcomes, worker=d.worker_id, plan=lambda _: [])
    assert all(store.reads.deliveries_of(e)[0]["attempts"] == [] for e in event_ids), "none half-recorded"

    answers = d._write_outcomes(outcomes)
    assert [isinstance(a, IntegrityError) for a in answers] == [False, False, True, False]
    recorded = [store.reads.deliveries_of(c.event_id)[0] for c in claims]  # the refused one's event too
    assert [r["status"] for r in recorded] == ["succeeded", "succeeded", "pending", "succeeded"]
    assert [len(r["attempts"]) for r in recorded] == [1, 1, 0, 1]
    d.close()


def test_successes_are_recorded_in_one_statement_on_postgresql(store: Store) -> None:
    """A batch of successes is one round trip on PostgreSQL (no BEGIN, no COMMIT) and keeps
    every attempt; on SQLite, in-process, one transaction."""
    event_ids, d, claims = _claimed(store, 3)
    outcomes = _succeeded(claims)
    statements: list[str] = []
    commits: list[int] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    sa.event.listen(store.engine, "commit", lambda *a: commits.append(1))
    recorded = store.deliveries.record_attempts(outcomes, worker=d.worker_id, plan=lambda _: [])
    assert [r.held for r in recorded] == [True] * 3
    postgresql = store.engine.dialect.name == "postgresql"
    # SQLite: BEGIN IMMEDIATE, the INSERT, the UPDATE, and the commit
    assert (len(statements), len(commits)) == ((1, 0) if postgresql else (3, 1)), statements
    for event_id in event_ids:
        (delivery,) = store.reads.deliveries_of(event_id)
        assert delivery["status"] == "succeeded"
        assert [a["outcome"] for a in delivery["attempts"]] == ["succeeded"]
    d.close()


def test_outcomes_finishing_together_share_one_transaction(store: Store) -> None:
    clock = FakeClock()
    route = Route(name="r", handler="x")
    gate = threading.Barrier(4)

    class Together(Handler):
        def handle(self, event: Event) -> None:
            gate.wait(10)  # all four finish at once

    for _ in range(4):
        ingest(store, (route,), clock)
    d = dispatcher(store, (route,), {"r": Together({})}, clock, concurrency=4)
    batches: list[int] = []
    real = store.deliveries.record_attempts

    def counted(outcomes: Any, **kw: Any) -> Any:
        batches.append(len(outcomes))
        time.sleep(0.1)  # a write that takes a while, as under load: the others queue behind it
        return real(outcomes, **kw)

    store.deliveries.record_attempts = counted  # type: ignore[method-assign]
    assert d.run_once() == 4
    d.wait_for_running()
    assert sum(batches) == 4 and len(batches) < 4, f"batches of {batches}"
    assert store.reads.delivery_status_counts() == {"succeeded": 4}
    d.close()


class Gated(Handler):
    """Waits for `gate` on every event; counts its calls."""

    def __init__(self) -> None:
        super().__init__({})
        self.gate = threading.Event()
        self.calls = 0
        self._lock = threading.Lock()

    def handle(self, event: Event) -> None:
        with self._lock:
            self.calls += 1
        self.gate.wait(10)


def _queued(store: Store, count: int) -> tuple[Route, ...]:
    routes = (Route(name="r", handler="x"),)
    for _ in range(count):
        ingest(store, routes, FakeClock(datetime.now(UTC)))
    return routes


def _claimed_by_another(store: Store) -> int:
    found = store.deliveries.claim_due_deliveries(
        worker="other", now=datetime.now(UTC), limit=100, lease=timedelta(seconds=30)
    )
    return len(found)


def test_a_worker_claims_ahead_of_its_threads_and_keeps_those_leases(store: Store) -> None:
    routes, handler = _queued(store, 8), Gated()
    d = Dispatcher(store, routes, {"r": handler}, lease_seconds=0.6, concurrency=2)
    d.start()
    try:
        assert d.run_once() == 6, "two for the threads, four claimed ahead"
        assert d.run_once() == 0, "nothing more is claimed while some wait for a thread"
        time.sleep(0.9)  # past the first lease: the keeper has extended all six
        assert _claimed_by_another(store) == 2
    finally:
        handler.gate.set()
        d.finish()  # gives back the four no thread started
        d.close()
    assert handler.calls == 2
    assert store.reads.delivery_status_counts() == {"succeeded": 2, "pending": 6}


def test_deliveries_claimed_ahead_are_given_back_when_every_thread_is_held(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two slow handlers hold both threads: the four claimed ahead go to another worker, and this
    one claims no more than its free threads meanwhile."""
    monkeypatch.setattr("webhook_app.runtime.in_hand.CLAIMED_AHEAD_WAIT", 0.1)
    routes, handler = _queued(store, 8), Gated()
    d = Dispatcher(store, routes, {"r": handler}, lease_seconds=30, concurrency=2)
    try:
        assert d.run_once() == 6
        time.sleep(0.2)
        assert d.run_once() == 0
        assert _claimed_by_another(store) == 6, "the four given back and the two never claimed"
        handler.gate.set()
        d.wait_for_running()
        assert handler.calls == 2, "the two given back never ran here"
        _queued(store, 4)
        assert d.run_once() == 2, "no claiming ahead for a while after giving back"
    finally:
        handler.gate.set()
        d.finish()
        d.close()


def test_a_stopping_worker_gives_back_what_no_thread_has_started(store: Store) -> None:
    routes, handler = _queued(store, 4), Gated()
    d = Dispatcher(store, routes, {"r": handler}, lease_seconds=30, concurrency=1)
    assert d.run_once() == 3
    threading.Timer(0.3, handler.gate.set).start()
    d.finish()  # returns once the one running has been recorded
    d.close()
    assert handler.calls == 1
    assert store.reads.delivery_status_counts() == {"succeeded": 1, "pending": 3}
    assert _claimed_by_another(store) == 3, "the two given back are due at once, with the one never claimed"


def test_a_delivery_claimed_ahead_is_not_attempted_once_its_route_paused(store: Store) -> None:
    """The first failure pauses the route: the second delivery, claimed with it, waits unattempted."""
    clock = FakeClock(datetime.now(UTC))
    route = Route(name="r", handler="x", pause_after_failures=1, probe_seconds=60)
    both = {ingest(store, (route,), clock), ingest(store, (route,), clock)}
    handler = Scripted(RetryableError("down"), RetryableError("down"))
    d = dispatcher(store, (route,), {"r": handler}, clock, concurrency=1)
    assert deliver_due(d) == 2
    (tried,) = [event.id for event in handler.seen]
    assert store.route_health.route_states()["r"]["state"] == "paused"
    waiting = only_delivery(store, (both - {tried}).pop())
    assert waiting["status"] == "pending" and waiting["attempts"] == []
    d.close()


@pytest.mark.parametrize(("due", "woken"), [(1, False), (2, False), (3, True)])
def test_a_finished_delivery_wakes_its_worker_only_when_the_last_claim_may_have_left_some(
    store: Store, due: int, woken: bool
) -> None:
    """Was: every finished delivery woke the worker for a claim, which found nothing when the
    claim before it had taken all that was due (a round trip per delivery at low load)."""
    clock = FakeClock()
    route = Route(name="r", handler="x")
    for _ in range(due):
        ingest(store, (route,), clock)
    d = dispatcher(store, (route,), {"r": Scripted()}, clock, concurrency=1)  # room for three
    d.wakeup.wait(0)
    assert deliver_due(d) == due
    assert d.wakeup.wait(0) is woken
    d.close()
