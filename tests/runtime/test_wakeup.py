"""LISTEN/NOTIFY: PostgreSQL workers are woken by committed work instead of polling hot."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import load_fixture, postgres_schema, wait_until
from tests.processes import Process, environment, free_port, wait_for_http
from webhook_app.runtime.wakeup import Wakeup
from webhook_app.store import Store, migrate
from webhook_app.store.engine import create_engine
from webhook_app.store.work_signal import notify_work

pytestmark = pytest.mark.slow  # real processes, a browser or a drill


@contextmanager
def listening(engine: sa.Engine) -> Iterator[Wakeup]:
    """A listener on the engine's schema, connected and past its catch-up wake-up."""
    stop = threading.Event()
    wakeup = Wakeup()
    wakeup.listen(engine, stop)
    try:
        wait_until(lambda: wakeup.listening, timeout=10)
        wakeup.wait(0.2)  # drop the catch-up wake-up sent on connecting
        yield wakeup
    finally:
        stop.set()
        engine.dispose()


def test_a_listener_is_woken_by_a_commit_and_not_by_a_rollback() -> None:
    with postgres_schema() as url, listening(engine := sa.create_engine(url)) as wakeup:
        with engine.connect() as conn:
            transaction = conn.begin()
            notify_work(conn)
            transaction.rollback()
        assert not wakeup.wait(0.5), "a rolled-back transaction notifies nobody"
        with engine.begin() as conn:
            notify_work(conn)
        assert wakeup.wait(5), "a committed one wakes the listener"


def test_work_in_another_schema_of_the_same_database_wakes_nobody_here() -> None:
    """Was: NOTIFY reaches every session of a database, so two deployments in two schemas of
    one database woke each other's workers (each wake-up a wasted poll)."""
    with postgres_schema() as here, postgres_schema() as elsewhere:
        other = sa.create_engine(elsewhere)
        with listening(engine := sa.create_engine(here)) as wakeup:
            with other.begin() as conn:
                notify_work(conn)
            assert not wakeup.wait(1.0), "work committed in another schema"
            with engine.begin() as conn:
                notify_work(conn)
            assert wakeup.wait(5), "work committed in this one"
        other.dispose()


def test_one_postgresql_worker_listens_and_another_takes_over_when_it_is_gone() -> None:
    """Was: every worker listened, so each commit woke them all and all but one claimed nothing."""
    with postgres_schema() as url:
        engine = sa.create_engine(url)
        first_stop, second_stop = threading.Event(), threading.Event()
        first, second = Wakeup(), Wakeup()
        first_thread = first.listen(engine, first_stop)
        wait_until(lambda: first.listening, timeout=10)
        second.listen(engine, second_stop)
        try:
            time.sleep(1.5)  # the second has asked at least once
            assert not second.listening, "one listener per database; the other polls"
            second.wait(0.1)
            with engine.begin() as conn:
                notify_work(conn)
            assert not second.wait(0.5), "a worker that does not listen is not woken"
            first_stop.set()
            assert first_thread is not None
            first_thread.join(5)
            wait_until(lambda: second.listening, timeout=5)
            second.wait(0.2)  # its catch-up wake-up
            with engine.begin() as conn:
                notify_work(conn)
            assert second.wait(5), "the new listener is woken by a commit"
        finally:
            first_stop.set()
            second_stop.set()
            engine.dispose()


def test_a_sqlite_commit_that_adds_work_wakes_its_worker_once_committed(tmp_path: Path) -> None:
    """Was: nothing to listen to on SQLite, so a delivery waited for the worker's poll (0.5 s)."""
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    stop = threading.Event()
    wakeup = Wakeup()
    try:
        assert wakeup.listen(engine, stop) is not None and wakeup.listening
        second = Wakeup()
        assert second.listen(engine, stop) is None, "one worker per database listens; another polls"
        with engine.connect() as conn:
            transaction = conn.begin()
            notify_work(conn)
            transaction.rollback()
        assert not wakeup.wait(0.5), "a rolled-back transaction wakes nobody"
        with engine.begin() as conn:
            notify_work(conn)
        assert wakeup.wait(5), "a committed one wakes the listener"
        with engine.begin() as conn:
            conn.exec_driver_sql("SELECT 1")
        assert not wakeup.wait(0.5), "a transaction that added no work wakes nobody"
    finally:
        stop.set()
        engine.dispose()


def test_a_sqlite_worker_delivers_new_work_without_waiting_for_its_poll(tmp_path: Path) -> None:
    """The worker's poll is 30 s here; woken by the web process's datagram, it delivers at once."""
    _deliver_through_processes(f"sqlite:///{tmp_path / 'events.db'}", tmp_path)


def test_a_postgresql_worker_delivers_new_work_without_waiting_for_its_poll(tmp_path: Path) -> None:
    """The worker's fallback poll is 5 s; a notified worker delivers well before that."""
    with postgres_schema() as url:
        _deliver_through_processes(url, tmp_path)


def _deliver_through_processes(url: str, tmp_path: Path) -> None:
    env = environment(
        url,
        tmp_path,
        resemble_tokens="wakeup-test-callback-token-0123456789",
        admin_tokens="wakeup-test-admin-token-0123456789ab",
        dispatch_poll_interval="30",
    )
    store = Store.from_url(url)
    migrate.upgrade(store.engine)
    port = free_port()
    web = Process(["web", "--port", str(port), "--workers", "1"], env, tmp_path)
    worker = Process(["worker"], env, tmp_path)
    try:
        wait_for_http(f"http://127.0.0.1:{port}", web)
        wait_until(lambda: "dispatcher" in worker.output and "started" in worker.output, timeout=20)
        time.sleep(1.0)  # let the worker settle into its idle wait
        posted = time.monotonic()
        body = load_fixture("resemble_finished.json")
        answer = httpx.post(
            f"http://127.0.0.1:{port}/hooks/resemble/wakeup-test-callback-token-0123456789", json=body
        )
        (event_id,) = answer.json()["event_ids"]
        wait_until(lambda: store.reads.deliveries_of(event_id)[0]["status"] == "succeeded", timeout=20)
        assert time.monotonic() - posted < 2.5, "woken at commit, not by the fallback poll"
        took = []
        for n in range(5):  # the worker idle again each time: each delivery needs its own wake-up
            time.sleep(0.3)
            posted = time.monotonic()
            answer = httpx.post(
                f"http://127.0.0.1:{port}/hooks/resemble/wakeup-test-callback-token-0123456789",
                json={**body, "id": f"voice-woken-{n}"},
            )
            (event_id,) = answer.json()["event_ids"]
            wait_until(
                lambda e=event_id: store.reads.deliveries_of(e)[0]["status"] == "succeeded",
                timeout=20,
                interval=0.005,
            )
            took.append(time.monotonic() - posted)
        # The aim is 0.1 s from the POST to the recorded delivery; the bound is generous for a
        # loaded machine, and still 60 times under the 30 s poll.
        assert sorted(took)[2] < 0.5, f"POST to delivered: {', '.join(f'{t * 1000:.0f} ms' for t in took)}"
    finally:
        web.close()
        worker.close()
        store.dispose()
