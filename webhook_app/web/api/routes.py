"""Admin API for routes and deliveries: `GET /api/routes`, pause and resume, `GET /api/deliveries`."""

from __future__ import annotations

from flask import Blueprint, Response
from marshmallow import fields, validate

from webhook_app.model.states import DeliveryStatus, values
from webhook_app.services import services
from webhook_app.store.cursors import decode_row_cursor
from webhook_app.store.records import DeliveryFilters
from webhook_app.usecases.filters import UTCMoment
from webhook_app.usecases.route_admin import route_items, set_paused
from webhook_app.web import schemas
from webhook_app.web.apidoc import answers, operation, path_param
from webhook_app.web.auth import require_admin
from webhook_app.web.query import PageQuerySchema, load_query
from webhook_app.web.schemas import respond

bp = Blueprint("routes", __name__, url_prefix="/api")


class DeliveryQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(values(DeliveryStatus)))
    route = fields.String(validate=validate.Length(min=1, max=100))
    event_type = fields.String(validate=validate.Length(min=1, max=64))
    since = UTCMoment()
    until = UTCMoment()
    resolved = fields.Boolean(
        metadata={
            "description": "Dead deliveries a later success fixed (true) or not (false: status=dead alone)",
        }
    )


@bp.get("/routes")
@require_admin
@operation(
    summary="Each configured route: state, waiting and dead deliveries, the last 24 hours",
    responses=answers(r200="RoutePage"),
)
def list_routes() -> Response:
    ctx = services()
    items = route_items(ctx.store, ctx.settings.routes, now=ctx.clock.now())
    return respond(schemas.RoutePage, {"items": items})


@bp.post("/routes/<name>/pause")
@require_admin
@operation(
    summary="Pause a route by hand: its deliveries wait, spending no attempts",
    parameters=[path_param("name", "A configured route's name")],
    responses=answers(r200="Route", r404="No such route"),
)
def pause_route(name: str) -> Response:
    return _set_paused(name, paused=True)


@bp.post("/routes/<name>/resume")
@require_admin
@operation(
    summary="Resume a paused route: its waiting deliveries go out",
    parameters=[path_param("name", "A configured route's name")],
    responses=answers(r200="Route", r404="No such route"),
)
def resume_route(name: str) -> Response:
    return _set_paused(name, paused=False)


def _set_paused(name: str, *, paused: bool) -> Response:
    ctx = services()
    item, _ = set_paused(ctx.store, ctx.settings.routes, name, paused, now=ctx.clock.now())
    return respond(schemas.RouteItem, item)


@bp.get("/deliveries")
@require_admin
@operation(
    summary="Deliveries, newest first",
    parameters=[{"in": "query", "schema": DeliveryQuerySchema}],
    responses=answers(r200="DeliveryPage", r400="Invalid query parameters"),
)
def list_deliveries() -> Response:
    args = load_query(DeliveryQuerySchema, lambda text, _: decode_row_cursor(text))
    names = ("status", "route", "event_type", "since", "until", "resolved")
    filters = DeliveryFilters(**{k: args.get(k) for k in names})
    items, next_cursor = services().store.reads.list_deliveries(
        filters, limit=args["limit"], cursor=args.get("cursor")
    )
    return respond(schemas.DeliveryPage, {"items": items, "next_cursor": next_cursor})
