"""Routes as people see and steer them: state, counts, the last day's attempts; pause and resume.

Shared by the admin API (`/api/routes`), the command line (`routes list|pause|resume`)
and the web page, so all three say the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from webhook_app.errors import WebhookAppError
from webhook_app.model import signals
from webhook_app.model.events import Event
from webhook_app.model.routes import Route
from webhook_app.model.states import PauseReason, RouteState
from webhook_app.store import Store
from webhook_app.store.route_health import COUNTED_STATUSES
from webhook_app.usecases.ingest import plan_deliveries

RECENT = timedelta(hours=24)


class UnknownRoute(WebhookAppError, LookupError):
    """No configured route has that name; the message names the ones there are."""

    status, code = 404, "not_found"

    def __init__(self, name: str, routes: Sequence[Route]) -> None:
        known = ", ".join(route.name for route in routes)
        super().__init__(f"No route named {name!r}; configured: {known}.")
        self.name = name


def route_items(store: Store, routes: Sequence[Route], *, now: datetime) -> list[dict[str, Any]]:
    """One item per configured route, in the order of the configuration."""
    states = store.route_health.route_states()
    counts = store.route_health.route_counts()
    return [_item(route, states.get(route.name), counts.get(route.name), store, now) for route in routes]


def _item(
    route: Route, state: dict[str, Any] | None, counts: dict[str, int] | None, store: Store, now: datetime
) -> dict[str, Any]:
    state = state or {}
    return {
        "name": route.name,
        "handler": route.handler,
        "events": list(route.events),
        "state": state.get("state", RouteState.ACTIVE.value),
        "paused_reason": state.get("paused_reason"),
        "paused_at": state.get("paused_at"),
        "consecutive_failures": state.get("consecutive_failures", 0),
        "rate_limit": route.rate_limit,
        "counts": {status: (counts or {}).get(status, 0) for status in COUNTED_STATUSES},
        "last_success_at": state.get("last_success_at"),
        "last_failure_at": state.get("last_failure_at"),
        "last_error": state.get("last_error"),
        "last_24h": store.route_health.recent_attempts(route.name, since=now - RECENT),
    }


def set_paused(
    store: Store, routes: Sequence[Route], name: str, paused: bool, *, now: datetime
) -> tuple[dict[str, Any], Event | None]:
    """Pause or resume `name` by hand: the route as it is now, and the ops event it raised
    (None when it already was so). `UnknownRoute` when no configured route has that name."""
    route = next((r for r in routes if r.name == name), None)
    if route is None:
        raise UnknownRoute(name, routes)
    event = store.route_health.set_route_paused(
        name, paused, now=now, plan=lambda raised: plan_deliveries(raised, routes)
    )
    if event is not None:
        signals.event_recorded.send(store, event=event)
    (item,) = route_items(store, [route], now=now)
    return item, event


def describe_state(item: dict[str, Any]) -> str:
    """`active`, or `paused (3 failures in a row)`, `paused by hand`."""
    if item["state"] != RouteState.PAUSED:
        return RouteState.ACTIVE.value
    if item["paused_reason"] == PauseReason.MANUAL:
        return "paused by hand"
    return f"paused ({item['consecutive_failures']} failures in a row)"
