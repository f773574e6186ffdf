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
from webhook_app.model.states import PauseReason, RouteState
from webhook_app.store import Store
from webhook_app.store.audit import Audit
from webhook_app.store.route_health import COUNTED_STATUSES
from webhook_app.usecases.ingest import plan_deliveries
from webhook_app.usecases.route_book import RouteBook, RouteSet

RECENT = timedelta(hours=24)


class UnknownRoute(WebhookAppError, LookupError):
    """No route has that name; the message names the ones there are."""

    status, code = 404, "not_found"

    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(f"No route named {name!r}; there are: {', '.join(known) or 'none'}.")
        self.name = name


def route_items(
    store: Store, book: RouteBook, routes: RouteSet, *, now: datetime, only: str | None = None
) -> list[dict[str, Any]]:
    """One item per route (or the one named `only`), by name: its whole configuration with
    secrets masked, whether this process can use it, and its health."""
    states = store.route_health.route_states()
    counts = store.route_health.route_counts()
    return [
        _item(
            book.shown(stored),
            routes.broken.get(stored.name),
            states.get(stored.name),
            counts.get(stored.name),
            store,
            now,
        )
        for stored in routes.stored
        if only is None or stored.name == only
    ]


def _item(
    shown: dict[str, Any],
    problem: str | None,
    state: dict[str, Any] | None,
    counts: dict[str, int] | None,
    store: Store,
    now: datetime,
) -> dict[str, Any]:
    state = state or {}
    return {
        **shown,
        "problem": problem,
        "state": state.get("state", RouteState.ACTIVE.value),
        "paused_reason": state.get("paused_reason"),
        "paused_at": state.get("paused_at"),
        "consecutive_failures": state.get("consecutive_failures", 0),
        "counts": {status: (counts or {}).get(status, 0) for status in COUNTED_STATUSES},
        "last_success_at": state.get("last_success_at"),
        "last_failure_at": state.get("last_failure_at"),
        "last_error": state.get("last_error"),
        "last_24h": store.route_health.recent_attempts(shown["name"], since=now - RECENT),
    }


def set_paused(
    store: Store, book: RouteBook, routes: RouteSet, name: str, paused: bool, *, by: str, now: datetime
) -> tuple[dict[str, Any], Event | None]:
    """Pause or resume `name` by hand, audited as done `by` someone: the route as it is now, and
    the ops event it raised (None when it already was so). `UnknownRoute` when no route has that name."""
    if routes.find(name) is None:
        raise UnknownRoute(name, [stored.name for stored in routes.stored])
    event = store.route_health.set_route_paused(
        name,
        paused,
        now=now,
        plan=lambda raised: plan_deliveries(raised, routes.routes),
        audit=Audit(by, "route.pause" if paused else "route.resume", name, now),
    )
    if event is not None:
        signals.event_recorded.send(store, event=event)
    (item,) = route_items(store, book, routes, now=now, only=name)
    return item, event


def describe_state(item: dict[str, Any]) -> str:
    """`active`, or `paused (3 failures in a row)`, `paused by hand`."""
    if item["state"] != RouteState.PAUSED:
        return RouteState.ACTIVE.value
    if item["paused_reason"] == PauseReason.MANUAL:
        return "paused by hand"
    return f"paused ({item['consecutive_failures']} failures in a row)"
