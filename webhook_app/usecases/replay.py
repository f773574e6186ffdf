"""Replaying: new deliveries for events already recorded, never an edit of the old history."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from webhook_app.errors import WebhookAppError
from webhook_app.model.clock import isoformat
from webhook_app.model.events import Event
from webhook_app.model.routes import Route
from webhook_app.store import PlannedDelivery, Store
from webhook_app.store.audit import Audit
from webhook_app.store.tables import DUE_STATUSES
from webhook_app.usecases.ingest import plan_deliveries


class ReplayError(WebhookAppError, LookupError):
    """The event or route to replay does not exist; the message says which."""

    status, code = 404, "not_found"


class AlreadyReplayed(WebhookAppError):
    """Every delivery this replay would follow has been replayed already (a press that raced
    another, or came twice): nothing new was queued."""

    status, code = 409, "already_replayed"


def replay_event(
    store: Store, routes: Sequence[Route], event_id: str, *, route: str | None, by: str, now: datetime
) -> list[dict[str, str | None]]:
    """One new pending delivery per matching route (or for `route` alone), linked to the last one.

    A route where a replay of the event is still waiting gets none, and the last delivery is
    replayed at most once (the store's unique `replay_of`), so presses that race, or a press
    made twice, queue one replay; `AlreadyReplayed` when nothing new was queued."""
    document = store.reads.get_event(event_id)
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
    latest = {d["route"]: d for d in store.reads.deliveries_of(event_id)}
    waiting = {
        route for route, d in latest.items() if d["replay_of"] is not None and d["status"] in DUE_STATUSES
    }
    planned = [
        PlannedDelivery(p.event_id, p.route, replay_of=latest[p.route]["id"] if p.route in latest else None)
        for p in planned
        if p.route not in waiting  # a replay of this event waits there already: a second press adds none
    ]
    audit = Audit(by, "event.replay", event_id, now, {"routes": sorted({p.route for p in planned})})
    ids = store.replays.add_deliveries(planned, now=now, audit=audit)
    created = [
        {"id": delivery_id, "route": p.route, "status": "pending", "replay_of": p.replay_of}
        for delivery_id, p in zip(ids, planned, strict=True)
        if delivery_id is not None
    ]
    if not created:
        raise AlreadyReplayed(
            f"Event {event_id} was just replayed to the same route(s); nothing new was queued."
        )
    return created


class RoutesGone(WebhookAppError):
    """Deliveries to retry belong to routes no longer configured: their replays would die at once."""

    status, code = 409, "routes_gone"


def plan_retry(
    store: Store, known: Collection[str], *, status: str, route: str | None, since: datetime | None
) -> list[PlannedDelivery]:
    """A replay of each delivery in `status` (of `route`, last changed since `since`) not
    replayed yet; `RoutesGone` when some of them belong to routes not `known` any more."""
    planned = store.replays.deliveries_to_retry(status=status, route=route, since=since)
    unknown = sorted({p.route for p in planned} - set(known))
    if unknown:
        raise RoutesGone(
            f"route(s) {', '.join(unknown)} no longer configured, so their replays would be dead at once; "
            "add the route back, or retry one that is configured with --route NAME"
        )
    return planned


def queue_retry(
    store: Store,
    planned: Sequence[PlannedDelivery],
    *,
    asked: Mapping[str, Any],
    by: str,
    now: datetime,
    progress: Callable[[int], None] = lambda _count: None,
) -> int:
    """Queue the planned replays, `RETRY_BATCH` per transaction; returns how many were queued
    (a delivery another press or command replayed meanwhile is queued once, by that one). One
    audit entry, `deliveries.retry` of the route asked for (or of every route), with what was
    `asked` (status, route, since) and the count each transaction queued."""
    target = str(asked.get("route") or "all routes")
    details = {k: isoformat(v) if isinstance(v, datetime) else v for k, v in asked.items() if v is not None}
    audit = Audit(by, "deliveries.retry", target, now, details)
    queued = 0
    for start in range(0, len(planned), RETRY_BATCH):
        chunk = planned[start : start + RETRY_BATCH]
        added = store.replays.add_deliveries(chunk, now=now, audit=audit)
        queued += sum(1 for delivery_id in added if delivery_id)
        progress(len(chunk))
    return queued


RETRY_BATCH = 200
