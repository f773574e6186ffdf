"""Fixtures: a real database per test (an SQLite file, and a PostgreSQL schema of its own),
the app on a real loopback HTTP server, and real sinks."""

from __future__ import annotations

import functools
import json
import os
import re
import ssl
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from tests import setup_machine
from tests.fake_azure import self_signed_certificate
from tests.sink import Sink
from webhook_app import create_app
from webhook_app.config.plugins import provider_classes
from webhook_app.config.settings import Settings
from webhook_app.model.routes import Route
from webhook_app.runtime.dispatch import Dispatcher
from webhook_app.store import ClaimedDelivery, Store, migrate
from webhook_app.store.deliveries import RecordedAttempt
from webhook_app.store.records import AttemptResult, RoutePolicy
from webhook_app.store.tables import metadata
from webhook_app.usecases.route_apply import apply_configured_routes

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parent.parent
ADMIN_TOKEN = "admin-test-token-0123456789abcdefghij"
RESEMBLE_TOKENS = ("resemble-token-current-0123456789abcdef", "resemble-token-previous-0123456789abcdef")

_BACKENDS = ["sqlite", "postgresql"]
PLAIN_HTTP = ssl.create_default_context()
"""One TLS context for the clients of loopback servers that speak plain HTTP: httpx builds one
per client otherwise, a fifth of a live server's start."""


@functools.cache
def postgres_url() -> str:
    """Every database test runs on PostgreSQL too: the server at TEST_DATABASE_URL (or the local
    one), else a throw-away one the tests start themselves (tests/setup_machine.py). Found on
    first use, so a run that selects no PostgreSQL test starts none."""
    url = os.environ["TEST_DATABASE_URL"] = setup_machine.postgres_url()
    return url


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(params=_BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: an SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'events.db'}"
        return
    with postgres_schema() as url:
        yield url


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A PostgreSQL URL whose connections use a new, empty schema, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    base = postgres_url()
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=str(tmp_path),
        admin_tokens=(ADMIN_TOKEN,),
        provider_tokens={"resemble": RESEMBLE_TOKENS},
        provider_values={"azure_speech_key": "test-azure-key"},  # tracking refuses without one; nothing polls
        routes=(Route(name="log", handler="log"),),
    )


def at_head(engine: sa.Engine) -> None:
    """The schema at the newest revision, made from the declared tables in a fifth of the time
    the migrations take (tests/store/test_migrate.py shows both make the same tables)."""
    if migrate.current_revision(engine) is not None:  # made already (a second server on it)
        return
    provider_classes()  # the providers' own tables join the declared ones as their modules load
    with engine.begin() as conn:
        metadata.create_all(conn, checkfirst=False)
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        conn.exec_driver_sql(f"INSERT INTO alembic_version VALUES ('{migrate.HEAD_REVISION}')")


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    store = Store.from_url(settings.database_url)
    at_head(store.engine)
    yield store
    store.dispose()


class LiveServer:
    """The Flask app served by a real (threaded) HTTP server on loopback."""

    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings)
        self.store: Store = self.app.extensions["webhook_app"].store
        at_head(self.store.engine)
        services = self.app.extensions["webhook_app"]
        apply_configured_routes(services.book, settings, now=services.clock.now())  # as a start does
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()
        self.http = httpx.Client(base_url=self.url, timeout=10, verify=PLAIN_HTTP)
        self.admin = httpx.Client(
            base_url=self.url,
            timeout=10,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            verify=PLAIN_HTTP,
        )

    @property
    def settings(self) -> Settings:
        return self.app.extensions["webhook_app"].settings

    def post_callback(self, body: Any, token: str = RESEMBLE_TOKENS[0], **kwargs: Any) -> httpx.Response:
        if isinstance(body, (bytes, str)):
            return self.http.post(f"/hooks/resemble/{token}", content=body, **kwargs)
        return self.http.post(f"/hooks/resemble/{token}", json=body, **kwargs)

    def close(self) -> None:
        self.http.close()
        self.admin.close()
        self._server.shutdown()
        self.store.dispose()


@pytest.fixture
def make_server_for() -> Iterator[Any]:
    servers: list[LiveServer] = []

    def start(settings: Settings) -> LiveServer:
        servers.append(LiveServer(settings))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def server(settings: Settings, make_server_for: Any) -> LiveServer:
    return make_server_for(settings)


@pytest.fixture(scope="session")
def tls_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for `localhost`; tests trust it through SSL_CERT_FILE, as a private CA."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def sink() -> Iterator[Sink]:
    sink = Sink()
    yield sink
    sink.close()


def with_routes(settings: Settings, *routes: Route) -> Settings:
    return replace(settings, routes=routes)


def deliver_due(dispatcher: Dispatcher) -> int:
    """One round of the worker's loop for `dispatcher`, then the wait a stop makes for the
    handlers it started: how many deliveries it claimed."""
    claimed = dispatcher.run_once()
    dispatcher.wait_for_running()
    return claimed


def succeed(store: Store, claim: ClaimedDelivery, worker: str, at: datetime) -> RecordedAttempt:
    """Record a successful attempt of `claim`, as the dispatcher would."""
    return store.deliveries.record_attempt(
        claim, AttemptResult("succeeded", at, at), worker=worker, policy=RoutePolicy(), plan=lambda _: []
    )


def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll `predicate` until it returns something truthy; fail with a clear message on timeout."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def race(count: int, press: Callable[[int], Any]) -> list[Any]:
    """`press(n)` in `count` threads let go at once (as many tabs or terminals pressing
    together); what each returned, in the order they finished."""
    barrier = threading.Barrier(count)
    results: list[Any] = []

    def run(n: int) -> None:
        barrier.wait()
        results.append(press(n))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def signed_in_page(server: LiveServer, path: str) -> tuple[httpx.Client, str]:
    """A client signed in to the pages, and the CSRF token of the form on `path`."""
    client = httpx.Client(base_url=server.url, timeout=30, verify=PLAIN_HTTP)
    client.post("/ui/login", data={"token": ADMIN_TOKEN})
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found is not None, f"no form on {path}"
    return client, found.group(1)
