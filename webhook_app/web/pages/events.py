"""The event log's pages: `/ui/events`, an event (its recordings, deliveries, receipt), replay."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from webhook_app.model import recordings
from webhook_app.model.events import ALARMS, OPS_PROVIDER, EventType
from webhook_app.model.states import Role
from webhook_app.services import services
from webhook_app.usecases.replay import replay_event
from webhook_app.web.api.events import csv_download
from webhook_app.web.auth import current_actor
from webhook_app.web.pages.core import (
    PAGE,
    SHOWN_BODY_BYTES,
    allowed,
    back_to,
    bp,
    page_filters,
    signed_in,
)


@bp.get("/events")
@signed_in
def events() -> str:
    filters, cursor, errors = page_filters()
    items, next_cursor = services().store.reads.list_events(filters, limit=PAGE, cursor=cursor)
    query = {k: v for k, v in request.args.items() if k != "cursor" and v}
    return render_template(
        "ui/events.html",
        counts=services().store.reads.delivery_counts([item["id"] for item in items]),
        items=items,
        next_cursor=next_cursor,
        query=query,
        errors=errors,
        types=[t.value for t in EventType],
        alarms=ALARMS,
        providers=[*sorted(services().providers), OPS_PROVIDER],
    )


@bp.get("/events/<event_id>")
@signed_in
def event(event_id: str) -> str:
    store = services().store
    document = store.reads.get_event(event_id)
    if document is None:
        abort(404, f"No event with id {event_id}.")
    receipt = store.reads.get_receipt(document["receipt_id"]) if document.get("receipt_id") else None
    return render_template(
        "ui/event.html",
        event=document,
        recordings=_recordings_view(document),
        receipt=receipt,
        deliveries=store.reads.deliveries_of(event_id),
        paused=store.route_health.paused_routes(),
        routes=services().routes.current().names(),
        shown_body_bytes=SHOWN_BODY_BYTES,
    )


@bp.get("/events/<event_id>/recordings.csv")
@signed_in
def recordings_csv(event_id: str) -> Response:
    document = services().store.reads.get_event(event_id)
    if document is None:
        abort(404, f"No event with id {event_id}.")
    return csv_download(event_id, document)


RECORDINGS_PAGE = 50


def _recordings_view(document: dict[str, Any]) -> dict[str, Any] | None:
    """A dataset issue's recordings as the page shows them: what to re-record first, each with
    why, the failing values marked, sortable (`?sort=`), `RECORDINGS_PAGE` a page (`?page=`)."""
    listed = document["data"].get("recordings") or []
    if not listed:
        return None
    sort = request.args.get("sort", "flagged")
    sort = sort if sort in recordings.SORTS else "flagged"
    pages = max(1, -(-len(listed) // RECORDINGS_PAGE))
    page = min(pages, max(1, request.args.get("page", 1, type=int) or 1))
    shown = recordings.ordered(listed, sort)[(page - 1) * RECORDINGS_PAGE : page * RECORDINGS_PAGE]
    return {
        "summary": recordings.summary_line(listed, document["data"].get("recordings_omitted", 0)),
        "counts": recordings.problem_counts(listed),
        "rows": [
            {**r, "problems": recordings.problems(r), "failing": recordings.failing_fields(r)} for r in shown
        ],
        "sort": sort,
        "page": page,
        "pages": pages,
        "total": len(listed),
        "labels": recordings.SCORE_LABELS,
        "floors": recordings.low_scores(),
    }


@bp.post("/events/<event_id>/replay")
@allowed(Role.OPERATOR)
def replay(event_id: str) -> Response:
    ctx = services()
    route = request.form.get("route") or None
    routes = ctx.routes.current().routes
    created = replay_event(ctx.store, routes, event_id, route=route, by=current_actor(), now=ctx.clock.now())
    flash(f"Replay queued: {', '.join(d['route'] or '' for d in created)}.", "ok")
    return redirect(back_to(url_for("ui.event", event_id=event_id)))
