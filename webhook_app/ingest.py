"""Recording provider input: events plus one delivery per matching route, committed together."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from webhook_app import signals
from webhook_app.events import Event
from webhook_app.routes import Route
from webhook_app.store import IngestResult, NewReceipt, PlannedDelivery, Store


def plan_deliveries(events: Sequence[Event], routes: Sequence[Route]) -> list[PlannedDelivery]:
    return [
        PlannedDelivery(event_id=event.id, route=route.name)
        for event in events
        for route in routes
        if route.matches(str(event.type), event.data.provider)
    ]


def record_events(
    store: Store,
    routes: Sequence[Route],
    receipt: NewReceipt,
    events: Sequence[Event],
    *,
    dedupe_key: str | None,
    dedupe_window: timedelta,
) -> IngestResult:
    """Store, then announce. Only after this returns may the caller acknowledge."""
    result = store.record_callback(
        receipt,
        events,
        plan_deliveries(events, routes),
        dedupe_key=dedupe_key,
        dedupe_window=dedupe_window,
    )
    if not result.duplicate:
        for event in events:
            signals.event_recorded.send(store, event=event)
    return result
