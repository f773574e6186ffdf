"""A test event through one route's handler, now: what `routes check --send-test` and a route
page's "Send a test event" do. The event carries the CloudEvents attribute `test: true`,
says TEST in what people read, and is kept in the event log like any other, with no
delivery (the one call is made here and its outcome told)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import timedelta

from webhook_app.config.plugins import callback_providers, provider_classes
from webhook_app.model.events import OPS_PROVIDER, Event
from webhook_app.model.routes import Route
from webhook_app.plugins.handler import Handler
from webhook_app.store import NewReceipt, Store
from webhook_app.usecases.ingest import record_events
from webhook_app.usecases.samples import TEST_PREFERENCE, sample_event


@dataclass(frozen=True)
class SentTestEvent:
    event: Event | None
    """None when the route takes no known event type (skipped, not failed)."""
    error: str | None = None

    def describe(self) -> str:
        if self.event is None:
            return "test: skipped, the route matches no known event type"
        outcome = f"FAILED ({self.error})" if self.error else "delivered"
        return f"test {self.event.type} {self.event.id}: {outcome}"


def send_test_event(store: Store, route: Route, handler: Handler) -> SentTestEvent:
    """Record a test event of the first type the route takes and hand it to the route's handler."""
    installed = provider_classes()
    provider = (route.providers or [cls.name for cls in callback_providers()] or list(installed))[0]
    sendable = (t for t in TEST_PREFERENCE if route.matches(str(t), OPS_PROVIDER if t.is_ops else provider))
    event_type = next(sendable, None)
    if event_type is None:
        return SentTestEvent(None)
    event = _recorded(store, sample_event(event_type, installed.get(provider, provider)))
    try:
        handler.handle(event)
    except Exception as exc:  # every outcome is told, whatever the handler raised
        return SentTestEvent(event, f"{type(exc).__name__}: {exc}")
    return SentTestEvent(event)


def _recorded(store: Store, event: Event) -> Event:
    """Kept in the log like any other event (its receipt: the event as sent), with no delivery."""
    body = json.dumps(event.to_cloudevent()).encode()
    receipt = NewReceipt(provider=event.data.provider, received_at=event.time, body=body, headers={})
    event = replace(event, receipt_id=receipt.id)
    record_events(store, (), receipt, [event], dedupe_key=None, dedupe_window=timedelta(0))
    return event
