"""What an attempt or a person's press does to a route's health, and the ops events it raises.

Decided here, in plain functions over the route's current row, so the store only reads the
row, writes the change and records the events, in one transaction
(`store/route_health.py`, `store/deliveries.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from webhook_app.model import ops
from webhook_app.model.events import Event
from webhook_app.model.states import AttemptOutcome, PauseReason, RouteState


class RouteRun(Protocol):
    """A route's state row, as the policy reads it."""

    state: str
    paused_reason: str | None
    paused_at: datetime | None
    paused_seconds: float
    consecutive_failures: int


@dataclass(frozen=True)
class HealthChange:
    """The route row's new values and the ops events the change raises (none: nothing to write)."""

    values: dict[str, Any] = field(default_factory=dict)
    raised: list[Event] = field(default_factory=list)


def after_attempt(
    route: str,
    row: RouteRun,
    outcome: str,
    *,
    pause_after_failures: int,
    probe_seconds: float,
    at: datetime,
    error: str | None,
) -> HealthChange:
    """A success resets the run of failures and ends a pause for failures (`ops.route.resumed`);
    a failure counts, and the one that reaches `pause_after_failures` pauses the route and
    schedules a probe (`ops.route.paused`)."""
    if outcome == AttemptOutcome.SUCCEEDED:
        values: dict[str, Any] = {"consecutive_failures": 0}
        if row.state == RouteState.PAUSED and row.paused_reason == PauseReason.FAILURES:
            paused_for = _paused_for(row, at)
            resumed = ops.route_resumed(route=route, reason="probe", paused_seconds=paused_for, at=at)
            return HealthChange(values | _resumed(row, paused_for), [resumed])
        return HealthChange(values)
    failures = row.consecutive_failures + 1
    values = {"consecutive_failures": failures, "last_failure_at": at, "last_error": error}
    if row.state != RouteState.ACTIVE or not pause_after_failures or failures < pause_after_failures:
        return HealthChange(values)
    values |= {
        "state": RouteState.PAUSED.value,
        "paused_reason": PauseReason.FAILURES.value,
        "paused_at": at,
        "next_probe_at": at + timedelta(seconds=probe_seconds),
    }
    paused = ops.route_paused(
        route=route, reason=PauseReason.FAILURES.value, consecutive_failures=failures, error=error, at=at
    )
    return HealthChange(values, [paused])


def pressed(route: str, row: RouteRun, paused: bool, *, at: datetime) -> HealthChange:
    """Pause or resume by hand (none when it already was so). A manual pause is not probed: it
    lasts until someone resumes the route, and a resume starts the count of failures afresh."""
    if paused and row.state == RouteState.ACTIVE:
        values: dict[str, Any] = {
            "state": RouteState.PAUSED.value,
            "paused_reason": PauseReason.MANUAL.value,
            "paused_at": at,
            "next_probe_at": None,
        }
        event = ops.route_paused(
            route=route,
            reason=PauseReason.MANUAL.value,
            consecutive_failures=row.consecutive_failures,
            error=None,
            at=at,
        )
        return HealthChange(values, [event])
    if not paused and row.state == RouteState.PAUSED:
        paused_for = _paused_for(row, at)
        event = ops.route_resumed(
            route=route, reason=PauseReason.MANUAL.value, paused_seconds=paused_for, at=at
        )
        return HealthChange(_resumed(row, paused_for) | {"consecutive_failures": 0}, [event])
    return HealthChange()


def delivery_dead(
    *, route: str, delivery_id: str, event: Event, attempts: int, error: str | None, at: datetime
) -> Event | None:
    """`ops.delivery.dead` for a delivery that gave up, but never about an ops event (a dead ops
    route must not feed itself)."""
    if event.type.is_ops:
        return None
    return ops.delivery_dead(
        route=route,
        delivery_id=delivery_id,
        event=event,
        attempts=attempts,
        code="dead",
        message=error or "",
        at=at,
    )


def _paused_for(row: RouteRun, at: datetime) -> float:
    return (at - row.paused_at).total_seconds() if row.paused_at is not None else 0.0


def _resumed(row: RouteRun, paused_for: float) -> dict[str, Any]:
    return {
        "state": RouteState.ACTIVE.value,
        "paused_reason": None,
        "paused_at": None,
        "next_probe_at": None,
        "paused_seconds": row.paused_seconds + paused_for,
    }
