"""Prometheus metrics, fed by the blinker signals and, at scrape time, by the database.

Counters live in the process that counts (web workers count callbacks and events,
workers count deliveries and polls). Under gunicorn, or with `serve`, all processes of a
host share `PROMETHEUS_MULTIPROC_DIR` and `/metrics` sums them. Backlog, oldest pending
age and tracked operations are read from the database when scraped, so they are the same
whichever process answers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from webhook_app.model import signals
from webhook_app.model.states import RouteState
from webhook_app.plugins.provider import Provider
from webhook_app.store import Store
from webhook_app.store.tables import DUE_STATUSES

logger = logging.getLogger(__name__)

CALLBACKS = Counter(
    "webhook_app_callbacks_received", "Provider callbacks by outcome.", ["provider", "outcome"]
)
EVENTS = Counter(
    "webhook_app_events_recorded", "Events recorded, by type and provider.", ["type", "provider"]
)
DELIVERY_ATTEMPTS = Counter(
    "webhook_app_delivery_attempts", "Delivery attempts by route and outcome.", ["route", "outcome"]
)
DELIVERY_LATENCY = Histogram(
    "webhook_app_delivery_latency_seconds",
    "From the event's time to its successful delivery, by route.",
    ["route"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400),
)
SERVER_ERRORS = Counter(
    "webhook_app_http_server_errors",
    "Answers with a 5xx status, by status and endpoint.",
    ["status", "endpoint"],
)


def _on_event(_sender: Any, event: Any) -> None:
    EVENTS.labels(str(event.type), event.data.provider).inc()


def _on_delivery(outcome: str) -> Any:
    def receiver(_sender: Any, event: Any, route: str, **_: Any) -> None:
        DELIVERY_ATTEMPTS.labels(route, outcome).inc()
        if outcome == "succeeded":
            DELIVERY_LATENCY.labels(route).observe(max(0.0, (datetime.now(UTC) - event.time).total_seconds()))

    return receiver


def _on_callback(_sender: Any, provider: str, outcome: str) -> None:
    CALLBACKS.labels(provider, outcome).inc()


def _on_server_error(_sender: Any, status: int, endpoint: str) -> None:
    SERVER_ERRORS.labels(str(status), endpoint).inc()


_RECEIVERS = (
    (signals.callback_received, _on_callback),
    (signals.server_error, _on_server_error),
    (signals.event_recorded, _on_event),
    (signals.delivery_succeeded, _on_delivery("succeeded")),
    (signals.delivery_failed, _on_delivery("failed")),
    (signals.delivery_dead, _on_delivery("dead")),
)


def install() -> None:
    """Count what the signals announce (idempotent: blinker keeps one connection per receiver)."""
    for signal, receiver in _RECEIVERS:
        signal.connect(receiver)


class StoreCollector(Collector):
    """Gauges read from the database at scrape time, the providers' with them."""

    def __init__(self, store: Store, providers: Sequence[type[Provider]]) -> None:
        self.store = store
        self.providers = providers

    def collect(self) -> Iterator[Metric]:
        """The gauges, or only `webhook_app_database_up 0` while the database cannot be read:
        the process counters are still worth scraping during an outage."""
        try:
            gauges = list(self._gauges())
        except SQLAlchemyError as exc:
            logger.warning("metrics: the database cannot be read: %s", exc)
            gauges = []
        yield GaugeMetricFamily(
            "webhook_app_database_up",
            "1 when the database answered this scrape, else 0.",
            value=1 if gauges else 0,
        )
        yield from gauges

    def _gauges(self) -> Iterator[Metric]:
        now = datetime.now(UTC)
        snapshot = self.store.reads.backlog_snapshot(now)
        backlog, oldest = snapshot.backlog, snapshot.oldest_due_created_at
        gauge = GaugeMetricFamily(
            "webhook_app_deliveries_backlog",
            "Deliveries waiting: pending or failed (to retry).",
            labels=["status"],
        )
        for status in DUE_STATUSES:
            gauge.add_metric([status], backlog.get(status, 0))
        yield gauge
        if isinstance(oldest, datetime) and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        yield GaugeMetricFamily(
            "webhook_app_oldest_pending_delivery_age_seconds",
            "Age of the oldest delivery not yet succeeded or dead (0 when none).",
            value=(now - oldest).total_seconds() if oldest else 0.0,
        )
        for provider in self.providers:
            yield from provider.gauges(self.store)
        yield from _route_gauges(snapshot.routes, snapshot.waiting, now)


def _route_gauges(routes: list[dict[str, Any]], waiting: dict[str, int], now: datetime) -> Iterator[Metric]:
    """Each route's state, run of failures, time spent paused and deliveries waiting their turn."""
    paused = GaugeMetricFamily(
        "webhook_app_route_paused", "1 while the route is paused, else 0.", labels=["route"]
    )
    failures = GaugeMetricFamily(
        "webhook_app_route_consecutive_failures", "Failed attempts in a row, by route.", labels=["route"]
    )
    paused_seconds = GaugeMetricFamily(
        "webhook_app_route_paused_seconds", "Seconds the route has spent paused, in all.", labels=["route"]
    )
    waits = GaugeMetricFamily(
        "webhook_app_route_waiting_deliveries",
        "Deliveries due now that wait for the route: paused, or held to its rate limit.",
        labels=["route"],
    )
    for row in routes:
        name, is_paused = row["route"], row["state"] == RouteState.PAUSED
        paused.add_metric([name], 1 if is_paused else 0)
        failures.add_metric([name], row["consecutive_failures"])
        current = (now - row["paused_at"]).total_seconds() if is_paused and row["paused_at"] else 0.0
        paused_seconds.add_metric([name], row["paused_seconds"] + max(0.0, current))
        waits.add_metric([name], waiting.get(name, 0))
    yield from (paused, failures, paused_seconds, waits)


PROCESS_METRICS = (CALLBACKS, EVENTS, DELIVERY_ATTEMPTS, DELIVERY_LATENCY, SERVER_ERRORS)


def registry_for(store: Store, providers: Sequence[type[Provider]]) -> CollectorRegistry:
    """This host's processes summed (or this process alone), plus the database gauges."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        for metric in (*PROCESS_METRICS, *(m for p in providers for m in p.process_metrics())):
            registry.register(metric)
    registry.register(StoreCollector(store, providers))
    return registry


def exposition(store: Store, providers: Sequence[type[Provider]]) -> bytes:
    return generate_latest(registry_for(store, providers))
