"""Admin API over the event log: events, their deliveries, voices, receipts."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response
from marshmallow import RAISE, Schema, fields, validate

from webhook_app.config.route_file import installed_provider
from webhook_app.model import recordings
from webhook_app.model.states import ReceiptStatus, Role, values
from webhook_app.services import services
from webhook_app.store import decode_cursor
from webhook_app.store.cursors import decode_row_cursor, encode_cursor
from webhook_app.store.records import ReceiptFilters
from webhook_app.usecases.filters import EventFilterSchema, UTCMoment, event_filters
from webhook_app.usecases.replay import replay_event
from webhook_app.usecases.reprocess import (
    reprocess_with_services,
)
from webhook_app.usecases.show import receipt_document
from webhook_app.web import schemas
from webhook_app.web.apidoc import answers, operation, path_param
from webhook_app.web.auth import current_actor, require
from webhook_app.web.errors import api_error
from webhook_app.web.query import PageQuerySchema, load_query
from webhook_app.web.schemas import respond

bp = Blueprint("events", __name__, url_prefix="/api")


class EventQuerySchema(PageQuerySchema, EventFilterSchema):
    """The event filters, a page size and a cursor (refusing unknown names, as every listing)."""

    class Meta(PageQuerySchema.Meta):  # not the filters' own, which ignores unknown names for the page
        pass


def _event_cursor(text: str, args: dict[str, Any]) -> object:
    return decode_cursor(text, timed="since" in args or "until" in args)


@bp.get("/events")
@require(Role.VIEWER)
@operation(
    summary="List events, newest first",
    parameters=[{"in": "query", "schema": EventQuerySchema}],
    responses=answers(r200="EventPage", r400="Invalid query parameters"),
)
def list_events() -> Response:
    args = load_query(EventQuerySchema, _event_cursor)
    filters = event_filters(args)
    store = services().store
    items, next_cursor = store.reads.list_events(filters, limit=args["limit"], cursor=args.get("cursor"))
    counts = store.reads.delivery_counts([item["id"] for item in items])
    listed = [{**item, "delivery_counts": counts[item["id"]]} for item in items]
    return respond(schemas.EventPage, {"items": listed, "next_cursor": next_cursor})


@bp.get("/events/<event_id>")
@require(Role.VIEWER)
@operation(
    summary="One event with its deliveries and their attempts",
    parameters=[path_param("event_id", "An event id (evt_…)")],
    responses=answers(r200="EventDetail", r404="No such event"),
)
def get_event(event_id: str) -> Response:
    store = services().store
    document = store.reads.get_event(event_id)
    if document is None:
        return api_error(404, "not_found", f"No event with id {event_id}.")
    return respond(schemas.EventDetail, {**document, "deliveries": store.reads.deliveries_of(event_id)})


@bp.get("/events/<event_id>/recordings.csv")
@require(Role.VIEWER)
@operation(
    summary="The event's recordings as CSV, flagged ones first: the re-record list",
    description="Columns: name, transcript, reasons, each score, each flag, id. "
    "A cell a spreadsheet would run as a formula starts with '.",
    parameters=[path_param("event_id", "An event id (evt_…)")],
    responses={
        "200": {
            "description": "The CSV file",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **answers(r404="No such event"),
    },
)
def recordings_csv(event_id: str) -> Response:
    """The event's recordings as a CSV file, flagged ones first (the re-record list)."""
    document = services().store.reads.get_event(event_id)
    if document is None:
        return api_error(404, "not_found", f"No event with id {event_id}.")
    return csv_download(event_id, document)


def csv_download(event_id: str, document: dict[str, Any]) -> Response:
    """The re-record list of `document` as an attachment named after the event."""
    body = recordings.as_csv(document["data"].get("recordings") or [])
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{event_id}-recordings.csv"'},
    )


class ReplayQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    route = fields.String(metadata={"description": "Only this route (default: every matching route)"})


@bp.post("/events/<event_id>/replay")
@require(Role.OPERATOR)
@operation(
    summary="Deliver an event again, to every matching route or one",
    parameters=[
        path_param("event_id", "An event id (evt_…)"),
        {"in": "query", "schema": ReplayQuerySchema},
    ],
    responses=answers(r202="Replay", r400="Invalid query parameters", r404="No such event or route"),
)
def replay(event_id: str) -> Response:
    ctx = services()
    args = load_query(ReplayQuerySchema)
    created = replay_event(
        ctx.store,
        ctx.routes.current().routes,
        event_id,
        route=args.get("route"),
        by=current_actor(),
        now=ctx.clock.now(),
    )
    return respond(schemas.Replay, {"event_id": event_id, "deliveries": created}, 202)


class VoiceQuerySchema(PageQuerySchema):
    provider = fields.String(validate=installed_provider)
    q = fields.String(
        validate=validate.Length(min=1, max=200), metadata={"description": "Part of a voice id or name"}
    )
    type = fields.String(
        validate=validate.Length(min=1, max=64), metadata={"description": "Latest event type"}
    )
    tests = fields.Boolean(
        load_default=False,
        metadata={"description": "Also voices only test events named (routes check --send-test)"},
    )


@bp.get("/voices")
@require(Role.VIEWER)
@operation(
    summary="Voices, most recent activity first (rolled up by the workers, a few seconds behind)",
    parameters=[{"in": "query", "schema": VoiceQuerySchema}],
    responses=answers(r200="VoicePage", r400="Invalid query parameters"),
)
def list_voices() -> Response:
    args = load_query(VoiceQuerySchema, lambda text, _: decode_cursor(text))
    position = decode_cursor(args["cursor"]).seq if "cursor" in args else None
    items, last = services().store.rollups.voice_list(
        provider=args.get("provider"),
        q=args.get("q"),
        last_type=args.get("type"),
        limit=args["limit"],
        cursor=position,
        tests=args["tests"],
    )
    return respond(schemas.VoicePage, {"items": items, "next_cursor": encode_cursor(last) if last else None})


@bp.get("/voices/<provider>/<path:voice_id>")
@require(Role.VIEWER)
@operation(
    summary="A voice's latest status and its timeline, oldest first, a page at a time",
    parameters=[
        path_param("provider", "An installed provider's name"),
        path_param("voice_id", "The voice id"),
        {"in": "query", "schema": PageQuerySchema},
    ],
    responses=answers(r200="Voice", r400="Invalid query parameters", r404="No events for this voice"),
)
def get_voice(provider: str, voice_id: str) -> Response:
    installed = services().providers
    if provider not in installed:
        return api_error(
            404, "not_found", f"Unknown provider {provider!r}; use one of {', '.join(sorted(installed))}."
        )
    args = load_query(PageQuerySchema, lambda text, _: decode_cursor(text))
    store = services().store
    latest, _ = store.reads.voice_timeline(provider, voice_id, limit=1, newest_first=True)
    if not latest:
        return api_error(404, "not_found", f"No events for {provider} voice {voice_id}.")
    timeline, next_cursor = store.reads.voice_timeline(
        provider, voice_id, limit=args["limit"], cursor=args.get("cursor")
    )
    voice = {
        "provider": provider,
        "voice_id": voice_id,
        "status": latest[0]["data"]["status"],
        "events": timeline,
        "next_cursor": next_cursor,
    }
    return respond(schemas.Voice, voice)


class ReceiptQuerySchema(PageQuerySchema):
    state = fields.String(validate=validate.OneOf(values(ReceiptStatus)))
    provider = fields.String(validate=installed_provider)
    since = UTCMoment()
    until = UTCMoment()


@bp.get("/receipts")
@require(Role.VIEWER)
@operation(
    summary="Receipts, newest first: what arrived, accepted or rejected and why",
    parameters=[{"in": "query", "schema": ReceiptQuerySchema}],
    responses=answers(r200="ReceiptPage", r400="Invalid query parameters"),
)
def list_receipts() -> Response:
    args = load_query(ReceiptQuerySchema, lambda text, _: decode_row_cursor(text))
    filters = ReceiptFilters(**{k: args.get(k) for k in ("state", "provider", "since", "until")})
    items, next_cursor = services().store.reads.list_receipts(
        filters, limit=args["limit"], cursor=args.get("cursor")
    )
    return respond(schemas.ReceiptPage, {"items": items, "next_cursor": next_cursor})


@bp.post("/receipts/<receipt_id>/reprocess")
@require(Role.OPERATOR)
@operation(
    summary="Validate a rejected receipt again; record its events if it passes now",
    parameters=[path_param("receipt_id", "A receipt id (rcpt_…)")],
    responses=answers(
        r200="IngestResult",
        r201="IngestResult",
        r404="No such receipt",
        r409="Reprocessed already (the receipt is accepted)",
        r422="Still not a valid callback",
    ),
)
def reprocess(receipt_id: str) -> Response:
    """Validate a rejected receipt again; its events are recorded if it passes now."""
    ctx = services()
    result = reprocess_with_services(ctx, receipt_id, by=current_actor())
    return respond(schemas.IngestResult, result, 200 if result.duplicate else 201)


@bp.get("/receipts/<receipt_id>")
@require(Role.VIEWER)
@operation(
    summary="A request as it arrived",
    parameters=[path_param("receipt_id", "A receipt id (rcpt_…)")],
    responses=answers(r200="Receipt", r404="No such receipt"),
)
def get_receipt(receipt_id: str) -> Response:
    receipt = services().store.reads.get_receipt(receipt_id)
    if receipt is None:
        return api_error(404, "not_found", f"No receipt with id {receipt_id}.")
    return respond(schemas.Receipt, receipt_document(receipt))
