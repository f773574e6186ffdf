"""Re-running validation on rejected receipts, e.g. after fixing a mapping or a provider slip."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from marshmallow import ValidationError

from webhook_app import signals
from webhook_app.ingest import plan_deliveries
from webhook_app.providers import resemble
from webhook_app.routes import Route, describe_validation_error
from webhook_app.store import IngestResult, Store


class ReprocessError(Exception):
    """The receipt cannot become events; the message says why."""


def reprocess_receipt(
    store: Store, routes: Sequence[Route], receipt_id: str, *, dedupe_window: timedelta, now: datetime
) -> IngestResult:
    receipt = store.get_receipt(receipt_id)
    if receipt is None or receipt["status"] != "rejected":
        raise ReprocessError(f"No rejected receipt with id {receipt_id}.")
    if receipt["provider"] != resemble.PROVIDER:
        raise ReprocessError(f"Receipts from {receipt['provider']} cannot be reprocessed.")
    try:
        body = json.loads(receipt["body"])
        callback = resemble.validate_callback(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReprocessError(f"The body is still not valid JSON: {exc}") from None
    except ValidationError as exc:
        raise ReprocessError(
            f"Still not a valid callback: {describe_validation_error(exc.messages)}"
        ) from None
    events = resemble.to_events(callback, receipt_id=receipt_id, received_at=receipt["received_at"])
    result = store.accept_rejected(
        receipt_id,
        events,
        plan_deliveries(events, routes),
        dedupe_key=resemble.dedupe_key(body),
        dedupe_window=dedupe_window,
        now=now,
    )
    if not result.duplicate:
        for event in events:
            signals.event_recorded.send(store, event=event)
    return result
