"""Replaying: new deliveries for events already recorded, never an edit of the old history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from webhook_app.errors import WebhookAppError
from webhook_app.events import Event
from webhook_app.ingest import plan_deliveries
from webhook_app.routes import Route
from webhook_app.store import PlannedDelivery, Store


class ReplayError(WebhookAppError, LookupError):
    """The event or route to replay does not exist; the message says which."""


def replay_event(
    store: Store, routes: Sequence[Route], event_id: str, *, route: str | None, now: datetime
) -> list[dict[str, str | None]]:
    """One new pending delivery per matching route (or for `route` alone), linked to the last one."""
    document = store.get_event(event_id)
    if document is None:
        raise ReplayError(f"No event with id {event_id}.")
    if route is not None:
        if route not in {r.name for r in routes}:
            known = ", ".join(r.name for r in routes) or "none"
            raise ReplayError(f"No route named {route!r} is configured (routes: {known}).")
        planned = [PlannedDelivery(event_id=event_id, route=route)]
    else:
        planned = plan_deliveries([Event.from_cloudevent(document)], routes)
        if not planned:
            raise ReplayError(f"No configured route matches event {event_id}; name one with route=.")
    latest = {d["route"]: d["id"] for d in store.deliveries_of(event_id)}
    planned = [PlannedDelivery(p.event_id, p.route, replay_of=latest.get(p.route)) for p in planned]
    ids = store.add_deliveries(planned, now=now)
    return [
        {"id": delivery_id, "route": p.route, "status": "pending", "replay_of": p.replay_of}
        for delivery_id, p in zip(ids, planned, strict=True)
    ]
