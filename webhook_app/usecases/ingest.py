"""Accept, record, announce: the one way events enter the log.

The callback view and `receipts reprocess` parse a body with `parse_callback` (JSON, text a
database can keep, then the provider's own rules). Every input then goes through `Ingest`
(callbacks, a provider job's polled results, a provider command's records) or, for a
rejected receipt that now parses, `accept_rejected`: the events plus one delivery per
matching route, committed together, announced (`event_recorded`) only after the commit.
Only then may a caller acknowledge.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from webhook_app.model import signals
from webhook_app.model.clock import Clock
from webhook_app.model.events import Event
from webhook_app.model.routes import Route
from webhook_app.model.text import unstorable_text
from webhook_app.plugins.provider import InvalidCallback, ParsedCallback, Provider
from webhook_app.store import IngestResult, NewReceipt, PlannedDelivery, Store
from webhook_app.store.audit import Audit

TOO_DEEP = "The body nests arrays or objects too deeply."


def plan_deliveries(events: Sequence[Event], routes: Sequence[Route]) -> list[PlannedDelivery]:
    """One delivery per route that accepts the event (`where` reads the CloudEvent, built once)."""
    planned = []
    filtering = any(route.where for route in routes)
    for event in events:
        document = event.to_cloudevent() if filtering else None
        planned += [
            PlannedDelivery(event_id=event.id, route=route.name)
            for route in routes
            if route.accepts(event, document)
        ]
    return planned


def parse_callback(
    provider: Provider, body: bytes, *, receipt_id: str, received_at: datetime
) -> ParsedCallback:
    """The body's events and dedupe key; `InvalidCallback` says what is wrong (400 or 422)."""
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidCallback(f"The body is not valid JSON: {exc}", status=400, code="invalid_json") from None
    except RecursionError:
        raise InvalidCallback(TOO_DEEP, status=400, code="invalid_json") from None
    unstorable = unstorable_text(body, parsed)
    if unstorable is not None:
        raise InvalidCallback(
            f"The text at {unstorable} holds a NUL or an unpaired surrogate, which cannot be stored.",
            {"path": unstorable},
            code="invalid_text",
        )
    try:
        return provider.parse(parsed, receipt_id=receipt_id, received_at=received_at)
    except RecursionError:
        raise InvalidCallback(TOO_DEEP, status=400, code="invalid_json") from None


class Ingest:
    """The ingest step (`plugins/job.py`'s `Ingest`), with the routes in use when it records."""

    def __init__(
        self, store: Store, routes: Callable[[], Sequence[Route]], *, dedupe_window: timedelta, clock: Clock
    ) -> None:
        self.store = store
        self.routes = routes
        self.dedupe_window = dedupe_window
        self.clock = clock

    def record(self, receipt: NewReceipt, events: Sequence[Event], *, dedupe_key: str | None) -> IngestResult:
        """Keep a callback's receipt and events, then announce them."""
        return record_events(
            self.store,
            self.routes(),
            receipt,
            events,
            dedupe_key=dedupe_key,
            dedupe_window=self.dedupe_window,
        )

    def record_with(
        self,
        receipt: NewReceipt | None,
        events: Sequence[Event],
        *,
        dedupe_key: str | None,
        together_with: Callable[[Any], bool],
    ) -> IngestResult | None:
        """Keep, with the caller's own write in the same transaction, then announce."""
        result = self.store.ingest.record_together(
            receipt,
            events,
            plan_deliveries(events, self.routes()),
            dedupe_key=dedupe_key,
            dedupe_window=self.dedupe_window,
            now=self.clock.now(),
            together_with=together_with,
        )
        if result is not None:
            announce(self.store, events, result)
        return result


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
    result = store.ingest.record_callback(
        receipt,
        events,
        plan_deliveries(events, routes),
        dedupe_key=dedupe_key,
        dedupe_window=dedupe_window,
    )
    announce(store, events, result)
    return result


def accept_rejected(
    store: Store,
    routes: Sequence[Route],
    receipt_id: str,
    parsed: ParsedCallback,
    *,
    dedupe_window: timedelta,
    by: str,
    now: datetime,
) -> IngestResult:
    """A rejected receipt that now parses becomes accepted, with its events, in one transaction
    (audited as a `receipt.reprocess` `by` someone)."""
    result = store.ingest.accept_rejected(
        receipt_id,
        parsed.events,
        plan_deliveries(parsed.events, routes),
        dedupe_key=parsed.dedupe_key,
        dedupe_window=dedupe_window,
        now=now,
        audit=Audit(by, "receipt.reprocess", receipt_id, now),
    )
    announce(store, parsed.events, result)
    return result


def announce(store: Store, events: Sequence[Event], result: IngestResult) -> None:
    """`event_recorded` for events that are new (a duplicate was announced the first time)."""
    if not result.duplicate:
        for event in events:
            signals.event_recorded.send(store, event=event)
