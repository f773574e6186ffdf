"""Scale-out on PostgreSQL: several worker processes share the deliveries through SKIP LOCKED claims."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import postgres_schema, wait_until
from tests.processes import Process, environment, sink_routes_config
from tests.sink import Sink
from webhook_app.model.events import Event, EventData, EventType
from webhook_app.model.routes import Route
from webhook_app.store import NewReceipt, Store, migrate
from webhook_app.store.tables import attempts
from webhook_app.usecases.ingest import record_events

pytestmark = pytest.mark.slow  # real processes, a browser or a drill

EVENTS = 800
WORKERS = 4
CONCURRENCY = 8
ROUTES = (
    Route(name="a", handler="tests.sink_handlers:SinkHandler"),
    Route(name="b", handler="tests.sink_handlers:SinkHandler"),
)


@pytest.fixture
def loaded() -> Iterator[tuple[str, Store]]:
    """A PostgreSQL schema holding 800 events, each with a pending delivery for routes a and b."""
    with postgres_schema() as url:
        store = Store.from_url(url)
        migrate.upgrade(store.engine)
        now = datetime.now(UTC)
        for n in range(EVENTS):
            receipt = NewReceipt(provider="resemble", received_at=now, body=b"{}", headers={})
            data = EventData(provider="resemble", voice_id=f"voice-{n}", status="finished", ok=True)
            event = Event(
                EventType.TRAINING_SUCCEEDED, "/providers/resemble", now, data, receipt_id=receipt.id
            )
            record_events(store, ROUTES, receipt, [event], dedupe_key=None, dedupe_window=timedelta(0))
        yield url, store
        store.dispose()


def start_workers(url: str, tmp_path: Path, sink: Sink, count: int, lease_seconds: int) -> list[Process]:
    config = sink_routes_config(tmp_path, a=f"{sink.url}/a", b=f"{sink.url}/b")
    env = environment(
        url,
        tmp_path,
        config=str(config),
        dispatch_concurrency=str(CONCURRENCY),
        lease_seconds=str(lease_seconds),
    )
    return [Process(["worker"], env, tmp_path) for _ in range(count)]


def deliveries_at_sink(sink: Sink) -> Counter[tuple[str, str]]:
    """(route path, event id) of every complete request; a request torn by a killed sender is not one."""
    complete = [r for r in list(sink.requests) if len(r.body) == int(r.headers.get("Content-Length", -1))]
    return Counter((request.path, request.json()["id"]) for request in complete)


def torn_requests(sink: Sink) -> int:
    return sum(len(r.body) != int(r.headers.get("Content-Length", -1)) for r in list(sink.requests))


def all_succeeded(store: Store) -> bool:
    return store.reads.delivery_status_counts() == {"succeeded": EVENTS * 2}


def test_four_workers_deliver_every_delivery_exactly_once(
    loaded: tuple[str, Store], tmp_path: Path, sink: Sink
) -> None:
    url, store = loaded
    # The default lease (60 s) is far longer than any delivery here, so none is taken over.
    workers = start_workers(url, tmp_path, sink, WORKERS, lease_seconds=60)
    try:
        wait_until(lambda: all_succeeded(store), timeout=240, interval=0.5)
    finally:
        for worker in workers:
            worker.close()
    counts = deliveries_at_sink(sink)
    assert len(counts) == EVENTS * 2, "every (event, route) reached the sink"
    assert set(counts.values()) == {1}, "and exactly once"
    assert len(sink.requests) == EVENTS * 2 and torn_requests(sink) == 0
    busy = [w for w in workers if "delivered" in w.output]
    assert len(busy) == WORKERS, "the work was shared by all four workers"


def test_a_worker_killed_mid_batch_loses_nothing_and_repeats_only_its_in_flight_leases(
    loaded: tuple[str, Store], tmp_path: Path, sink: Sink
) -> None:
    url, store = loaded
    # A short lease, so the killed worker's deliveries are taken over soon.
    workers = start_workers(url, tmp_path, sink, WORKERS, lease_seconds=10)
    try:
        wait_until(lambda: len(sink.requests) >= EVENTS // 2, timeout=240, interval=0.05)
        workers[0].kill()
        wait_until(lambda: all_succeeded(store), timeout=240, interval=0.5)
    finally:
        for worker in workers:
            worker.close()
    counts = deliveries_at_sink(sink)
    assert len(counts) == EVENTS * 2, "nothing lost: every (event, route) reached the sink at least once"
    duplicates = sum(n - 1 for n in counts.values())
    assert duplicates <= CONCURRENCY, (
        f"{duplicates} repeats; only the killed worker's {CONCURRENCY} leases may repeat"
    )
    with store.reading() as conn:  # outcomes are written in batches: a killed one left nothing half-done
        per_delivery = conn.execute(
            sa.select(attempts.c.delivery_id, attempts.c.number, attempts.c.outcome)
        ).all()
    numbers = Counter((row.delivery_id, row.number) for row in per_delivery)
    assert max(numbers.values()) == 1, "no attempt recorded twice"
    succeeded = Counter(row.delivery_id for row in per_delivery if row.outcome == "succeeded")
    assert len(succeeded) == EVENTS * 2 and set(succeeded.values()) == {1}, "each delivery's success once"
