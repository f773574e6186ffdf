"""PostgreSQL outages: no 2xx while it is gone, nothing acknowledged lost, recovery without a restart."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import ADMIN_TOKEN, RESEMBLE_TOKENS, postgres_schema, wait_until
from tests.processes import Process, environment
from tests.sink import Sink
from tests.tcp_proxy import TcpProxy
from webhook_app.config.settings import Settings
from webhook_app.model.routes import Route
from webhook_app.store import EventFilters, Store, migrate
from webhook_app.store.engine import LOCK_TIMEOUT_SECONDS, postgres_url

pytestmark = pytest.mark.slow  # real processes, a browser or a drill


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[str, str, TcpProxy]]:
    """(direct URL, URL through the proxy, proxy) for a fresh PostgreSQL schema."""
    with postgres_schema() as direct:
        url = make_url(direct)
        proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
        try:
            yield (
                direct,
                url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
                proxy,
            )
        finally:
            proxy.close()


def test_database_outage_answers_503_loses_nothing_and_recovers_by_itself(
    proxied: tuple[str, str, TcpProxy], make_server_for: Any, sink: Sink, tmp_path: Path
) -> None:
    direct, through_proxy, proxy = proxied
    store = Store.from_url(direct)
    migrate.upgrade(store.engine)
    route = Route(name="sink", handler="tests.sink_handlers:SinkHandler", options={"url": sink.url})
    settings = Settings(
        database_url=through_proxy,
        data_dir=str(tmp_path),
        admin_tokens=(ADMIN_TOKEN,),
        provider_tokens={"resemble": RESEMBLE_TOKENS},
        routes=(route,),
    )
    server = make_server_for(settings)
    worker = Process(["worker"], environment(through_proxy, tmp_path), tmp_path)  # the routes: the server's
    acknowledged: list[str] = []

    def post(n: int) -> Any:
        return server.post_callback({"id": f"voice-{n}", "status": "finished"})

    try:
        for n in range(5):
            answer = post(n)
            assert answer.status_code == 202
            acknowledged += answer.json()["event_ids"]
        wait_until(lambda: len(sink.requests) >= 5, timeout=20)

        proxy.cut()
        for n in range(5, 10):
            answer = post(n)
            assert answer.status_code == 503, answer.text
            assert answer.headers["Retry-After"] and answer.json()["error"]["code"] == "database_unavailable"
        ready = server.http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["error"]["code"] == "database_unavailable"
        assert server.admin.get("/api/events").status_code == 503
        try:
            # The worker backs off (within a pool checkout timeout, 30 s, at worst).
            wait_until(lambda: "dispatcher: a round failed" in worker.output, timeout=45)
        except AssertionError:
            raise AssertionError(worker.output[-3000:]) from None

        proxy.restore()
        for n in range(10, 15):
            answer = wait_until(lambda n=n: (r := post(n)).status_code == 202 and r, timeout=20)
            acknowledged += answer.json()["event_ids"]
        assert server.http.get("/readyz").status_code == 200
        delivered = lambda: {r.json()["id"] for r in sink.requests}  # noqa: E731
        wait_until(lambda: set(acknowledged) <= delivered(), timeout=40)
        assert worker.proc.poll() is None, "the worker recovered without a restart"
    finally:
        worker.close()
    stored = {e["id"] for e in store.reads.list_events(EventFilters(), limit=100)[0]}
    assert set(acknowledged) <= stored and len(acknowledged) == 10
    store.dispose()


def test_metrics_are_served_while_the_database_is_down_and_count_the_5xx(
    proxied: tuple[str, str, TcpProxy], make_server_for: Any, tmp_path: Path
) -> None:
    """Was: `/metrics` answered 503 during an outage, when its counters matter most."""
    from tests.telemetry.test_metrics import scrape, value

    direct, through_proxy, proxy = proxied
    store = Store.from_url(direct)
    migrate.upgrade(store.engine)
    store.dispose()
    settings = Settings(
        database_url=through_proxy,
        data_dir=str(tmp_path),
        admin_tokens=(ADMIN_TOKEN,),
        provider_tokens={"resemble": RESEMBLE_TOKENS},
    )
    server = make_server_for(settings)
    assert server.post_callback({"id": "before", "status": "finished"}).status_code == 202
    up = scrape(server.url)
    assert value(up, "webhook_app_database_up") == 1
    proxy.cut()
    for _ in range(3):
        assert server.post_callback({"id": "during", "status": "finished"}).status_code == 503
    response = server.http.get("/metrics")
    assert response.status_code == 200, response.text
    down = scrape(server.url)
    assert value(down, "webhook_app_database_up") == 0
    assert value(down, "webhook_app_callbacks_received_total", provider="resemble", outcome="accepted") >= 1
    served_errors = value(
        down, "webhook_app_http_server_errors_total", status="503", endpoint="hooks.callback"
    )
    assert served_errors - value(up, "webhook_app_http_server_errors_total", status="503",
                                 endpoint="hooks.callback") == 3  # fmt: skip
    proxy.restore()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_callback_held_up_by_a_lock_is_answered_503_within_the_lock_timeout(server: Any) -> None:
    """Was: while another session held a lock on `receipts` (a migration, an operator's open
    transaction), a callback waited for it with no deadline and was never answered."""
    callback = {"id": "held-up", "status": "finished"}
    with server.store.engine.connect() as holder:
        holder.exec_driver_sql("LOCK TABLE receipts IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        answer = server.post_callback(callback, timeout=LOCK_TIMEOUT_SECONDS + 20)
        waited = time.monotonic() - started
        holder.rollback()
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "database_unavailable" and answer.headers["Retry-After"]
    assert waited < LOCK_TIMEOUT_SECONDS + 10
    assert server.post_callback(callback).status_code == 202


def test_a_lock_timeout_set_in_the_database_url_is_kept() -> None:
    url = "postgresql+psycopg://u@h/db?options=-csearch_path%3Dmine%20-clock_timeout%3D1s"
    assert postgres_url(url).query["options"] == "-csearch_path=mine -clock_timeout=1s"
    ours = postgres_url("postgresql+psycopg://u@h/db?options=-csearch_path%3Dmine").query["options"]
    assert ours == f"-csearch_path=mine -c lock_timeout={LOCK_TIMEOUT_SECONDS * 1000}"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_every_postgresql_connection_probes_a_silent_peer(store: Store) -> None:
    """A database host that vanishes without a word (no RST: a partition, a dead host) left
    a query waiting on the socket with the system's defaults: keepalive probes after two
    hours, none before. Loopback cannot go silent, so this checks what each connection asks."""
    from webhook_app.store.fast_path import FastPath

    fast_path = FastPath(store.engine, lambda: contextlib.nullcontext())
    try:
        for engine in (store.engine, fast_path._autocommit):
            with engine.connect() as conn:
                asked = conn.connection.dbapi_connection.info.get_parameters()  # type: ignore[union-attr]
            assert asked["keepalives_idle"] == "30" and asked["keepalives_count"] == "3", asked
            assert asked["tcp_user_timeout"] == "60000", asked
    finally:
        fast_path.dispose()
