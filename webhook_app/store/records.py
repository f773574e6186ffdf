"""The values the store takes and gives, and the rows it writes for them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from webhook_app.model.events import Event, new_id
from webhook_app.model.receipts import NewReceipt
from webhook_app.model.states import DeliveryStatus


@dataclass(frozen=True)
class PlannedDelivery:
    event_id: str
    route: str
    replay_of: str | None = None


@dataclass(frozen=True)
class ClaimedDelivery:
    id: str
    event_id: str
    route: str
    attempts: int
    document: dict[str, Any]
    probe: bool = False
    """Claimed as the probe of a paused route: a failure spends none of its attempts."""
    route_healthy: bool = False
    """The route was active with no failure in a row when this was claimed: a success then
    has nothing to change in the route's state."""


@dataclass(frozen=True)
class AttemptResult:
    """How one attempt went, as the dispatcher records it."""

    outcome: str  # an AttemptOutcome
    started_at: datetime
    finished_at: datetime
    error: str | None = None
    next_attempt_at: datetime | None = None
    """For `failed`: when to try again."""
    status_code: int | None = None
    response: str | None = None
    """What the target answered; the store keeps its first `RESPONSE_CHARS`."""


RESPONSE_CHARS = 1024


@dataclass(frozen=True)
class RoutePolicy:
    """What a route's configuration says about pausing and sending."""

    pause_after_failures: int = 20
    probe_seconds: float = 60.0
    send_interval: float | None = None


@dataclass(frozen=True)
class ReceiptFilters:
    state: str | None = None
    """`accepted` or `rejected`."""
    provider: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class DeliveryFilters:
    status: str | None = None
    route: str | None = None
    event_type: str | None = None
    since: datetime | None = None
    """By when the delivery was created."""
    until: datetime | None = None
    resolved: bool | None = None
    """Dead deliveries a later success fixed (True) or not (False); `status=dead` alone means False."""


@dataclass(frozen=True)
class EventFilters:
    type: str | None = None
    provider: str | None = None
    voice_id: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None


CONTENT_TYPE_CHARS = 200  # the column's size; a longer header is kept cut (the body is what matters)


def receipt_row(receipt: NewReceipt, *, status: str, reason: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": receipt.id,
        "provider": receipt.provider,
        "received_at": receipt.received_at,
        "status": status,
        "reason": reason,
        "content_type": receipt.content_type[:CONTENT_TYPE_CHARS] if receipt.content_type else None,
        "headers": receipt.headers,
        "body": receipt.body,
        "dedupe_key": None,
    }


def event_row(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "receipt_id": event.receipt_id,
        "provider": event.data.provider,
        "type": str(event.type),
        "voice_id": event.subject,
        "status": event.status,
        "occurred_at": event.time,
        "document": event.to_cloudevent(),
    }


def delivery_row(planned: PlannedDelivery, now: datetime) -> dict[str, Any]:
    return {
        "id": new_id("dlv"),
        "event_id": planned.event_id,
        "route": planned.route,
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
        "replay_of": planned.replay_of,
    }
