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
from webhook_app.model.routes import Route
from webhook_app.plugins.handler import Handler
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
    here, so the new workers plan deliveries with the new routes, or with the old ones
    when the new file is invalid.
    """

    def __init__(
        self, make_app: Callable[[Settings], Any], settings: Settings, options: dict[str, Any]
    ) -> None:
        self.make_app = make_app
        self.settings = settings
        self.options = options
        super().__init__()

    def reload(self) -> None:
        reloaded = reloaded_settings(self.settings)
        if reloaded is not None:
            self.settings, handlers = reloaded
            for handler in handlers.values():  # built to check the routes; the workers build their own
                handler.close()
        super().reload()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        if "control_socket_disable" in self.cfg.settings:
            # gunicorn >= 25 opens a per-user control socket; several instances would share it.
            self.cfg.set("control_socket_disable", True)

    def load(self) -> Any:
        return self.make_app(self.settings)


def reloaded_settings(current: Settings) -> tuple[Settings, dict[str, Handler]] | None:
    """The settings read again with their routes' handlers built, if they are valid; else
    None, with the reason logged."""
    source = current.config_path or "the environment"
    try:
        settings = load_settings()
        handlers = build_handlers(
            settings.routes, settings.config_path or "default routes", settings.public_url
        )
    except ConfigError as exc:
        logger.error("routes not reloaded, keeping the %d in use: %s", len(current.routes), exc)
        return None
    logger.info("routes reloaded from %s: %d route(s)", source, len(settings.routes))
    return settings, handlers


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
    reload_requested = threading.Event()
    store = Store.from_settings(settings)
    wakeup = Wakeup()
    worker, use_routes = _worker_for(settings, store, wakeup)

    def shut_down() -> None:
        stop.set()
        worker.wake()
        reload_requested.set()

    relay_signals({signal.SIGINT: shut_down, signal.SIGTERM: shut_down, signal.SIGHUP: reload_requested.set})
    metrics.install()
    if metrics_port:
        start_http_server(
            metrics_port,
            addr=metrics_host,
            registry=metrics.registry_for(store, list(provider_classes().values())),
        )
    wakeup.listen(store.engine, stop)
    freeze_startup_objects()
    reloading = threading.Thread(
        target=_reload_on_request,
        args=(settings, reload_requested, stop, use_routes),
        name="routes-reload",
        daemon=True,
    )
    reloading.start()
    try:
        worker.run(stop)
    finally:
        reload_requested.set()
        store.dispose()


RouteUser = Callable[[tuple[Route, ...], dict[str, Handler]], None]


def _worker_for(settings: Settings, store: Store, wakeup: Wakeup) -> tuple[Worker, RouteUser]:
    """The worker with every job (deliveries, rollups, providers'), and how to hand it new routes."""
    clock = worker_clock(store.engine)
    worker_id = new_worker_id()
    dispatcher = Dispatcher(
        store,
        settings.routes,
        build_handlers(settings.routes, settings.config_path or "default routes", settings.public_url),
        worker_id=worker_id,
        lease_seconds=settings.lease_seconds,
        concurrency=settings.dispatch_concurrency,
        poll_interval=settings.dispatch_poll_interval,
        wakeup=wakeup,
        clock=clock,
    )
    in_use = {"routes": settings.routes}  # replaced whole by a reload
    ingest = Ingest(
        store, lambda: in_use["routes"], dedupe_window=timedelta(seconds=settings.dedupe_window), clock=clock
    )
    context = JobContext(database=store, settings=settings, clock=clock, worker_id=worker_id, ingest=ingest)
    provided = [job for provider in load_providers(settings).values() for job in provider.jobs(context)]

    def use_routes(routes: tuple[Route, ...], handlers: dict[str, Handler]) -> None:
        in_use["routes"] = routes
        dispatcher.replace_routes(routes, handlers)

    return Worker([dispatcher, RollupJob(store, clock), *provided]), use_routes


def _reload_on_request(
    settings: Settings, requested: threading.Event, stop: threading.Event, use_routes: RouteUser
) -> None:
    """SIGHUP, off the signal handler: new routes for deliveries and what jobs record, or none."""
    current = settings
    while True:
        requested.wait()
        requested.clear()
        if stop.is_set():
            return
        reloaded = reloaded_settings(current)
        if reloaded is not None:
            current, handlers = reloaded
            use_routes(current.routes, handlers)


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
        """SIGHUP: both children read their routes again (gunicorn restarts its workers)."""
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
