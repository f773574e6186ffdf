"""Azure's signal and Prometheus metrics: each poll announced and counted by the worker that
polled, the tracked operations read from the database when `/metrics` is scraped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from blinker import Namespace
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily

from webhook_app.model.states import OperationState, values

POLLS = Counter("webhook_app_azure_polls", "Azure operation polls by outcome.", ["outcome"])


polled = Namespace().signal("azure_polled")
"""`polled(sender, outcome=str)`: every poll, with `unchanged`, `changed`, `retry`, `stopped` or
`stalled`."""


@polled.connect
def _count_poll(_sender: Any, outcome: str) -> None:
    POLLS.labels(outcome).inc()


def operation_gauge(counts: Mapping[str, int]) -> GaugeMetricFamily:
    """Tracked Azure operations by state, every state present (0 when none)."""
    gauge = GaugeMetricFamily(
        "webhook_app_azure_operations", "Tracked Azure operations by state.", labels=["state"]
    )
    for state in values(OperationState):
        gauge.add_metric([state], counts.get(state, 0))
    return gauge
