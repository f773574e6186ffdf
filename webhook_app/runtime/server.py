"""Processes: gunicorn for the web app, the worker loop, and `serve`, which runs both.

`serve` is a small supervisor: it starts `webhook-app web` and `webhook-app worker` as
child processes, restarts one that dies unexpectedly, and stops both on SIGINT/SIGTERM.
Nothing is lost if any of them is killed: acknowledged events are already committed.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from gunicorn.app.base import BaseApplication
from prometheus_client import start_http_server

from webhook_app.config.plugins import build_handlers, load_providers, provider_classes
from webhook_app.config.settings import Settings, load_settings
from webhook_app.errors import ConfigError
from webhook_app.model.clock import worker_clock
from webhook_app.plugins.job import JobContext
from webhook_app.runtime.dispatch import Dispatcher
from webhook_app.runtime.rollup_job import RollupJob
from webhook_app.runtime.signal_relay import relay_signals
from webhook_app.runtime.wakeup import Wakeup
from webhook_app.runtime.worker import Worker, new_worker_id
from webhook_app.store import Store
from webhook_app.telemetry import metrics
from webhook_app.telemetry.logs import gunicorn_logconfig
from webhook_app.telemetry.memory import freeze_startup_objects
from webhook_app.usecases.ingest import Ingest
from webhook_app.usecases.route_book import LiveRoutes, open_route_book

logger = logging.getLogger(__name__)

MIN_HEALTHY_SECONDS = 5.0
WORKER_CONNECTIONS = 10_000
"""Connections one worker holds at once. A connection that trickles or idles costs a greenlet
and a socket (about 20 KiB), so thousands of them must not fill the slots that callbacks and
health checks need (benchmarks/RESULTS.md, the connection-flood drill)."""
WEB_WORKER_CLASS = (
    "webhook_app.runtime.web_worker.RequestDeadlineWorker"  # named, not imported: gevent loads in workers
)
STOP_TIMEOUT_SECONDS = 30.0


class WebServer(BaseApplication):
    """Gunicorn run from Python, with the same app factory as the Procfile's `web` line.

    On SIGHUP gunicorn starts new workers; before it does, the settings are read again
    here, so the new workers apply the config file's routes as it is now (or keep the
    settings in use when the new file is invalid). Route changes need no SIGHUP.
    """

    def __init__(
        self, make_app: Callable[[Settings], Any], settings: Settings, options: dict[str, Any]
    ) -> None:
        self.make_app = make_app
        self.settings = settings
        self.options = options
        super().__init__()

    def reload(self) -> None:
        try:
            settings = load_settings()
            for handler in build_handlers(settings.routes, settings.config_path or "default routes").values():
                handler.close()  # built to check the file's routes; the workers apply them
            self.settings = settings
        except ConfigError as exc:
            logger.error("settings not read again, keeping those in use: %s", exc)
        super().reload()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        if "control_socket_disable" in self.cfg.settings:
            # gunicorn >= 25 opens a per-user control socket; several instances would share it.
            self.cfg.set("control_socket_disable", True)

    def load(self) -> Any:
        return self.make_app(self.settings)


def run_web(
    make_app: Callable[[Settings], Any], settings: Settings, host: str, port: int, workers: int
) -> None:
    WebServer(
        make_app,
        settings,
        {
            "logconfig_dict": gunicorn_logconfig(settings.log_format, settings.log_level, settings.secrets()),
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": WEB_WORKER_CLASS,
            "worker_connections": WORKER_CONNECTIONS,
            "logger_class": "webhook_app.runtime.web_worker.AccessLogger",
            "timeout": 30,
            "graceful_timeout": 10,
            "keepalive": 0,  # one request per connection, as sync workers did: kept-alive connections
            # stay with the worker that accepted them, and an unlucky worker's queue grows
        },
    ).run()


def run_worker(
    settings: Settings,
    stop: threading.Event | None = None,
    *,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
) -> None:
    """Run every job (deliveries, and what providers add, such as polling) until
    SIGINT/SIGTERM (or `stop`), then finish in-flight work."""
    stop = stop or threading.Event()
    store = Store.from_settings(settings)
    wakeup = Wakeup()
    worker = _worker_for(settings, store, wakeup)

    def shut_down() -> None:
        stop.set()
        worker.wake()

    def nothing_to_reload() -> None:
        logger.info("SIGHUP: nothing to reload, the routes are read from the database as they change")

    relay_signals({signal.SIGINT: shut_down, signal.SIGTERM: shut_down, signal.SIGHUP: nothing_to_reload})
    metrics.install()
    if metrics_port:
        start_http_server(
            metrics_port,
            addr=metrics_host,
            registry=metrics.registry_for(store, list(provider_classes().values())),
        )
    wakeup.listen(store.engine, stop)
    freeze_startup_objects()
    try:
        worker.run(stop)
    finally:
        store.dispose()


def _worker_for(settings: Settings, store: Store, wakeup: Wakeup) -> Worker:
    """The worker with every job (deliveries, rollups, providers'), following the routes in
    the database (`webhook-app worker` applies the config file's first)."""
    clock = worker_clock(store.engine)
    worker_id = new_worker_id()
    routes = LiveRoutes(open_route_book(store, settings))
    dispatcher = Dispatcher(
        store,
        (),
        {},
        follow=routes,
        public_url=settings.public_url,
        worker_id=worker_id,
        lease_seconds=settings.lease_seconds,
        concurrency=settings.dispatch_concurrency,
        poll_interval=settings.dispatch_poll_interval,
        wakeup=wakeup,
        clock=clock,
    )
    ingest = Ingest(
        store,
        lambda: routes.current().routes,
        dedupe_window=timedelta(seconds=settings.dedupe_window),
        clock=clock,
    )
    context = JobContext(database=store, settings=settings, clock=clock, worker_id=worker_id, ingest=ingest)
    provided = [job for provider in load_providers(settings).values() for job in provider.jobs(context)]
    return Worker([dispatcher, RollupJob(store, clock), *provided])


class Supervisor:
    """Keeps `web` and `worker` children running until told to stop."""

    def __init__(self, commands: dict[str, list[str]]) -> None:
        self.commands = commands
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.started: dict[str, float] = {}
        self.stopping = threading.Event()

    def _start(self, name: str) -> None:
        self.children[name] = subprocess.Popen(self.commands[name])
        self.started[name] = time.monotonic()

    def run(self) -> int:
        relay_signals(
            {
                signal.SIGINT: self.stopping.set,
                signal.SIGTERM: self.stopping.set,
                signal.SIGHUP: lambda: self._forward(signal.SIGHUP),
            }
        )
        for name in self.commands:
            self._start(name)
        exit_code = 0
        while not self.stopping.wait(0.5):
            for name, child in list(self.children.items()):
                code = child.poll()
                if code is None:
                    continue
                if time.monotonic() - self.started[name] < MIN_HEALTHY_SECONDS:
                    logger.error("%s exited with %s right after starting; stopping", name, code)
                    exit_code = code or 1
                    self.stopping.set()
                    break
                logger.warning("%s exited with %s; restarting it", name, code)
                self._start(name)
        self._stop_children()
        return exit_code

    def _forward(self, signum: int) -> None:
        """SIGHUP: gunicorn restarts its workers with the settings read again; the worker logs that
        it has nothing to reload (routes follow the database)."""
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signum)

    def _stop_children(self) -> None:
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for child in self.children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def child_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "webhook_app", *args]
