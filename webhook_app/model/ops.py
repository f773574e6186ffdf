"""Ops events: the service telling its people what went wrong with itself (docs/design.md, "Ops events").

They are events like any other (stored, listed, routed with `events = ["ops.*"]`), made
here with the `data` each type promises. None is raised about the delivery of an ops
event, so a dead ops route cannot feed itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from webhook_app.model.events import OPS_SOURCE, Event, EventType, OpsData


def _event(kind: EventType, subject: str, at: datetime, /, **fields: Any) -> Event:
    return Event(type=kind, source=OPS_SOURCE, time=at, data=OpsData(subject=subject, fields=fields))


def delivery_dead(
    *, route: str, delivery_id: str, event: Event, attempts: int, code: str, message: str, at: datetime
) -> Event:
    return _event(
        EventType.OPS_DELIVERY_DEAD,
        route,
        at,
        route=route,
        delivery_id=delivery_id,
        event_id=event.id,
        event_type=str(event.type),
        voice_id=event.subject,
        attempts=attempts,
        error={"code": code, "message": message},
    )


def deliveries_discarded(*, route: str, discarded: int, by: str, at: datetime) -> Event:
    """One for all the waiting deliveries a deleted route took with it."""
    message = f"route '{route}' was deleted by {by}: its {discarded} waiting deliveries were discarded"
    return _event(
        EventType.OPS_DELIVERY_DEAD,
        route,
        at,
        route=route,
        discarded=discarded,
        error={"code": "route_deleted", "message": message},
    )


def route_paused(
    *, route: str, reason: str, consecutive_failures: int, error: str | None, at: datetime
) -> Event:
    return _event(
        EventType.OPS_ROUTE_PAUSED,
        route,
        at,
        route=route,
        reason=reason,
        consecutive_failures=consecutive_failures,
        error={"code": "failed", "message": error} if error else None,
    )


def route_resumed(*, route: str, reason: str, paused_seconds: float, at: datetime) -> Event:
    return _event(
        EventType.OPS_ROUTE_RESUMED,
        route,
        at,
        route=route,
        reason=reason,
        paused_seconds=round(paused_seconds, 3),
    )


def provider_unauthorized(
    kind: EventType, *, operation_id: str, resource_id: str, status_code: int, at: datetime
) -> Event:
    """A provider refused the service's key (`kind` is the provider's `ops.<provider>.unauthorized`)."""
    return _event(
        kind,
        operation_id,
        at,
        operation_id=operation_id,
        resource_id=resource_id,
        status_code=status_code,
    )
