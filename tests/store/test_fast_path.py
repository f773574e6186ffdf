"""The ingest hot path writes exactly what the general path writes, and survives what the pool hides."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import load_fixture, postgres_schema, wait_until
from webhook_app.model.routes import Route
from webhook_app.providers.resemble import callbacks as resemble
from webhook_app.store import NewReceipt, Store, migrate
from webhook_app.store.engine import IDLE_CHECKPOINT_SECONDS
from webhook_app.store.records import delivery_row, event_row, receipt_row
from webhook_app.store.tables import deliveries, events, receipts
from webhook_app.usecases.ingest import plan_deliveries

WINDOW = timedelta(hours=24)
ROUTES = (Route(name="log", handler="log"), Route(name="archive", handler="log"))


def record(store: Store, *, dedupe_key: str | None, voice_id: str = "voice-1") -> Any:
    body = load_fixture("resemble_dataset_issue.json") | {"id": voice_id}
    receipt = NewReceipt(
        provider="resemble",
        received_at=datetime(2026, 11, 24, 10, 0, 0, 123456, tzinfo=UTC),
        body=b'{"raw": "body"}',
        headers={"Content-Type": "application/json", "User-Agent": "test"},
        content_type="application/json",
    )
    new_events = resemble.to_events(
        resemble.validate_callback(body), receipt_id=receipt.id, received_at=receipt.received_at
    )
    return store.ingest.record_callback(
        receipt, new_events, plan_deliveries(new_events, ROUTES), dedupe_key=dedupe_key, dedupe_window=WINDOW
    )


def stored(store: Store, receipt_id: str) -> list[tuple[Any, ...]]:
    """What the driver sees, ids left out: the fast path must store values in the same form."""
    with store.engine.connect() as conn:
        receipt = conn.exec_driver_sql(
            "SELECT provider, received_at, status, reason, content_type, headers, body"
            f" FROM receipts WHERE id = '{receipt_id}'"
        ).one()
        event = conn.exec_driver_sql(
            "SELECT provider, type, voice_id, status, occurred_at FROM events"
            f" WHERE receipt_id = '{receipt_id}'"
        ).one()
        planned = conn.exec_driver_sql(
            "SELECT d.route, d.status, d.attempts, d.next_attempt_at, d.created_at, d.updated_at, d.replay_of"
            " FROM deliveries AS d JOIN events ON events.id = d.event_id"
            f" WHERE events.receipt_id = '{receipt_id}' ORDER BY route"
        ).all()
    return [tuple(receipt), tuple(event), *map(tuple, planned)]


def test_the_fast_path_stores_what_the_general_path_stores(store: Store) -> None:
    fast = record(store, dedupe_key="a" * 64)
    general = record(store, dedupe_key=None)  # no key: the general path
    assert not fast.duplicate and not general.duplicate
    assert stored(store, fast.receipt_id) == stored(store, general.receipt_id)
    with store.engine.connect() as conn:
        documents = conn.execute(sa.select(events.c.document).order_by(events.c.seq)).scalars().all()
    assert [d["receipt_id"] for d in documents] == [fast.receipt_id, general.receipt_id]
    assert documents[0]["data"] == documents[1]["data"]
    assert store.reads.get_event(fast.event_ids[0]) == documents[0]


def test_a_taken_key_writes_nothing_and_answers_with_the_original(store: Store) -> None:
    first = record(store, dedupe_key="b" * 64)
    again = record(store, dedupe_key="b" * 64)
    assert again.duplicate and again.receipt_id == first.receipt_id and again.event_ids == first.event_ids
    with store.engine.connect() as conn:
        counts = [
            conn.execute(sa.select(sa.func.count()).select_from(t)).scalar() for t in (receipts, events)
        ]
        assert counts == [1, 1]
        assert conn.execute(sa.select(sa.func.count()).select_from(deliveries)).scalar() == len(ROUTES)


def test_a_connection_that_died_in_the_pool_is_replaced_without_an_error() -> None:
    """PostgreSQL restarts and idle timeouts kill pooled connections; the hot path does not ping first."""
    with postgres_schema() as url:
        store = Store.from_url(url)
        try:
            migrate.upgrade(store.engine)
            record(store, dedupe_key="c" * 64)
            pooled = store.ingest._fast_path._autocommit.raw_connection()
            pid = pooled.driver_connection.info.backend_pid  # type: ignore[union-attr]
            pooled.close()  # back to the pool, then killed there
            with store.engine.connect() as conn:
                assert conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid})").scalar()
            result = record(store, dedupe_key="d" * 64, voice_id="voice-2")
            assert not result.duplicate
            assert store.reads.get_event(result.event_ids[0]) is not None
        finally:
            store.dispose()


def test_sqlite_writers_wait_for_their_turn_across_stores(tmp_path: Path) -> None:
    """Two stores on one file (as two processes would be) queue on the writers' lock beside it."""
    url = f"sqlite:///{tmp_path / 'events.db'}"
    first, second = Store.from_url(url), Store.from_url(url)
    try:
        migrate.upgrade(first.engine)
        done = threading.Event()
        with first.writers.turn():
            writer = threading.Thread(target=lambda: (record(second, dedupe_key="e" * 64), done.set()))
            writer.start()
            assert not done.wait(0.5), "the second store wrote while the first held the turn"
        assert done.wait(10), "the second store did not write after the turn was released"
        writer.join()
        assert (tmp_path / "events.db.writers").exists()
    finally:
        first.dispose()
        second.dispose()


@pytest.mark.slow
def test_sqlite_checkpoints_run_beside_the_writers_and_the_wal_starts_over(tmp_path: Path) -> None:
    """No commit checkpoints (that stalled every writer); the writing process's thread does them."""
    database, wal = tmp_path / "events.db", tmp_path / "events.db-wal"
    store = Store.from_url(f"sqlite:///{database}")
    try:
        migrate.upgrade(store.engine)
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        before = database.stat().st_size
        for n in range(50):
            record(store, dedupe_key=f"a{n:063d}", voice_id=f"voice-{n}")
        wait_until(lambda: database.stat().st_size > before, timeout=10)  # pages copied into the database
        time.sleep(2.5 * IDLE_CHECKPOINT_SECONDS)  # and the frames written meanwhile, under a writer's turn
        grown = wal.stat().st_size
        for n in range(40):
            record(store, dedupe_key=f"b{n:063d}", voice_id=f"voice-{n}")
        assert wal.stat().st_size == grown, "the WAL was appended to instead of reused from its start"
    finally:
        store.dispose()


@pytest.mark.slow
def test_sqlite_checkpoints_take_no_writer_turn_while_nothing_is_written(tmp_path: Path) -> None:
    """Idle ticks are one cheap pass; a turn (which holds every writer back) only follows writes."""
    store = Store.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    turns_taken = []
    take_turn = store.writers.turn

    def counted_turn() -> Any:
        turns_taken.append(threading.current_thread().name)
        return take_turn()

    try:
        migrate.upgrade(store.engine)
        store.writers.turn = counted_turn  # type: ignore[method-assign]
        for n in range(20):
            record(store, dedupe_key=f"a{n:063d}", voice_id=f"voice-{n}")
        wait_until(lambda: "sqlite-checkpoints" in turns_taken, timeout=10)
        time.sleep(2.5 * IDLE_CHECKPOINT_SECONDS)  # the frames written meanwhile are copied too
        turns_taken.clear()
        time.sleep(2.5 * IDLE_CHECKPOINT_SECONDS)
        assert turns_taken == [], "an idle checkpoint tick took a writer's turn"
        record(store, dedupe_key="b" * 64)
        wait_until(lambda: "sqlite-checkpoints" in turns_taken, timeout=10)
    finally:
        store.dispose()


def rows_of(
    voice_id: str, *, dedupe_key: str
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """One callback's rows, as the store hands them to the fast path."""
    body = load_fixture("resemble_dataset_issue.json") | {"id": voice_id}
    now = datetime.now(UTC)
    receipt = NewReceipt(provider="resemble", received_at=now, body=b"{}", headers={}, content_type=None)
    new_events = resemble.to_events(resemble.validate_callback(body), receipt_id=receipt.id, received_at=now)
    return (
        receipt_row(receipt, status="accepted", reason=None) | {"dedupe_key": dedupe_key},
        [event_row(e) for e in new_events],
        [delivery_row(p, now) for p in plan_deliveries(new_events, ROUTES)],
    )


def in_one_batch(store: Store, callbacks: list[tuple[Any, ...]]) -> tuple[list[object], list[int]]:
    """Record the callbacks from threads of their own, held until all wait, so they share one write.
    Returns each one's outcome (True, False, or the exception) and the sizes of the writes made."""
    batches = store.ingest._fast_path._batches
    write, sizes = batches._write, []
    first_write = threading.Event()

    def held(batch: Any) -> Any:
        if not sizes:
            first_write.set()
            for _ in range(1000):  # the first write waits until every other caller queued behind it
                if len(batches._queue) >= len(callbacks) - 1:
                    break
                time.sleep(0.01)
        sizes.append(len(batch))
        return write(batch)

    batches._write = held
    outcomes: list[object] = [None] * len(callbacks)

    def one(index: int) -> None:
        try:
            outcomes[index] = store.ingest._fast_path.record(*callbacks[index])
            if outcomes[index] is True:  # acknowledged: another connection must see it now
                with store.engine.connect() as conn:
                    query = sa.select(receipts.c.id).where(receipts.c.id == callbacks[index][0]["id"])
                    seen[index] = conn.execute(query).first() is not None
        except Exception as error:
            outcomes[index] = error

    seen: dict[int, bool] = {}
    first = threading.Thread(target=one, args=(0,))
    first.start()
    assert first_write.wait(10)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(1, len(callbacks))]
    for thread in threads:
        thread.start()
    for thread in [first, *threads]:
        thread.join(30)
    batches._write = write
    assert all(seen.values()), "a callback was acknowledged before its batch committed"
    return outcomes, sizes


def test_callbacks_waiting_together_share_one_write_and_one_key_wins(store: Store) -> None:
    callbacks = [rows_of(f"voice-{i}", dedupe_key=f"{i:064d}") for i in range(12)]
    callbacks += [rows_of("voice-same", dedupe_key="s" * 64) for _ in range(4)]
    outcomes, sizes = in_one_batch(store, callbacks)
    assert sizes == [1, 15], "the callers queued behind the first write did not share the next"
    assert outcomes[:12] == [True] * 12
    assert sorted(map(bool, outcomes[12:])) == [False, False, False, True], (
        "not exactly one holder of the key"
    )
    with store.engine.connect() as conn:
        stored_events = conn.execute(sa.select(sa.func.count()).select_from(events)).scalar()
        stored_deliveries = conn.execute(sa.select(sa.func.count()).select_from(deliveries)).scalar()
    assert (stored_events, stored_deliveries) == (13, 13 * len(ROUTES))


def test_a_callback_the_database_refuses_fails_alone_and_the_rest_of_its_batch_is_stored(
    store: Store,
) -> None:
    callbacks = [rows_of(f"voice-{i}", dedupe_key=f"{i:064d}") for i in range(5)]
    receipt, clashing, planned = rows_of("voice-clash", dedupe_key="c" * 64)
    clashing = [row | {"id": callbacks[1][1][0]["id"]} for row in clashing]  # an event id already taken
    callbacks.append((receipt, clashing, [row | {"event_id": clashing[0]["id"]} for row in planned]))
    outcomes, sizes = in_one_batch(store, callbacks)
    assert sizes == [1, 5], "the callers queued behind the first write did not share the next"
    assert outcomes[:5] == [True] * 5
    assert isinstance(outcomes[5], sa.exc.IntegrityError)
    with store.engine.connect() as conn:
        kept = set(conn.execute(sa.select(receipts.c.id)).scalars())
    assert kept == {c[0]["id"] for c in callbacks[:5]}
