"""`/ui/voices` and a voice's page: its timeline, its latest dataset issue, what its provider adds."""

from __future__ import annotations

from flask import abort, render_template, request

from webhook_app.model import recordings
from webhook_app.model.events import FAILURE_TYPES, EventType
from webhook_app.services import services
from webhook_app.store import decode_cursor
from webhook_app.store.cursors import encode_cursor
from webhook_app.web.pages.core import PAGE, bp, provider_panels, signed_in


@bp.get("/voices")
@signed_in
def voices() -> str:
    ctx = services()
    query = {k: v for k, v in request.args.items() if k in ("q", "provider", "tests") and v}
    errors: list[str] = []
    provider = query.get("provider")
    if provider is not None and provider not in ctx.providers:
        errors.append("That provider is not installed.")
        provider = None
    try:
        position = decode_cursor(request.args["cursor"]).seq if request.args.get("cursor") else None
    except ValueError:
        errors.append("That page link is not valid any more.")
        position = None
    items, last = ctx.store.rollups.voice_list(
        provider=provider,
        q=query.get("q"),
        last_type=None,
        limit=PAGE,
        cursor=position,
        tests="tests" in query,
    )
    return render_template(
        "ui/voices.html",
        failure_types=[str(kind) for kind in FAILURE_TYPES],
        items=items,
        next_cursor=encode_cursor(last) if last else None,
        query=query,
        errors=errors,
        providers=sorted(ctx.providers),
    )


TIMELINE_EVENTS = 200
"""A voice page shows its latest events up to this many, each with its deliveries."""


@bp.get("/voices/<provider>/<path:voice_id>")
@signed_in
def voice(provider: str, voice_id: str) -> str:
    store = services().store
    newest, _ = store.reads.voice_timeline(provider, voice_id, limit=TIMELINE_EVENTS, newest_first=True)
    timeline = newest[::-1]
    if not timeline:
        abort(404, f"No events for {provider} voice {voice_id}.")
    deliveries = {event["id"]: store.reads.deliveries_of(event["id"]) for event in timeline}
    issues = [event for event in timeline if event["type"] == EventType.DATASET_ISSUE]
    latest_issue = store.reads.get_event(issues[-1]["id"]) if issues else None
    dataset_summary = (
        recordings.summary_line(
            latest_issue["data"].get("recordings") or [], latest_issue["data"].get("recordings_omitted", 0)
        )
        if latest_issue
        else None
    )
    return render_template(
        "ui/voice.html",
        provider=provider,
        voice_id=voice_id,
        timeline=timeline,
        deliveries=deliveries,
        paused=store.route_health.paused_routes(),
        panels=provider_panels("voice", provider=provider, voice_id=voice_id),
        latest_issue=latest_issue,
        dataset_summary=dataset_summary,
        name=next((e["data"]["voice_name"] for e in timeline if e["data"].get("voice_name")), None),
        kind=next((e["data"]["resource_kind"] for e in timeline if e["data"].get("resource_kind")), "voice"),
    )
