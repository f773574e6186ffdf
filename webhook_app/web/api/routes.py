"""Admin API for routes and deliveries: routes listed, made, changed, removed, paused and
resumed (`/api/routes`); `GET /api/deliveries`."""

from __future__ import annotations

from flask import Blueprint, Response, request
from marshmallow import fields, validate

from webhook_app.errors import InvalidInput
from webhook_app.model.states import DeliveryStatus, Role, values
from webhook_app.services import services
from webhook_app.store.cursors import decode_row_cursor
from webhook_app.store.records import DeliveryFilters
from webhook_app.usecases.filters import UTCMoment
from webhook_app.usecases.route_admin import route_items, set_paused
from webhook_app.web import route_schemas, schemas
from webhook_app.web.apidoc import JSON, answers, operation, path_param
from webhook_app.web.auth import current_actor, require
from webhook_app.web.query import PageQuerySchema, json_object, load_query
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
@require(Role.VIEWER)
@operation(
    summary="Each route: its configuration (secrets masked), state, waiting and dead deliveries, last 24 h",
    responses=answers(r200="RoutePage"),
)
def list_routes() -> Response:
    ctx = services()
    items = route_items(ctx.store, ctx.book, ctx.routes.refresh(), now=ctx.clock.now())
    return respond(route_schemas.RoutePage, {"items": items})


@bp.post("/routes")
@require(Role.ADMIN)
@operation(
    summary="Make a route (its fields as in the config file's [[routes]])",
    request_body={"required": True, "content": {JSON: {"schema": "RouteBody"}}},
    responses=answers(
        r201="Route",
        r400="Not a JSON object",
        r409="A route of that name exists",
        r422="A field the config file would refuse (details by field path)",
    ),
)
def create_route() -> Response:
    ctx = services()
    stored = ctx.book.create(json_object(), by=current_actor(), now=ctx.clock.now())
    return respond(route_schemas.RouteItem, _item(stored.name), status=201)


@bp.patch("/routes/<name>")
@require(Role.ADMIN)
@operation(
    summary="Change a route made over the API, at the version read (options merged key by key)",
    parameters=[path_param("name", "A route's name")],
    request_body={"required": True, "content": {JSON: {"schema": "RouteChange"}}},
    responses=answers(
        r200="Route",
        r400="Not a JSON object, or no version",
        r404="No such route",
        r409="A stale version, or a route of the config file",
        r422="A field the config file would refuse (details by field path)",
    ),
)
def change_route(name: str) -> Response:
    ctx = services()
    body = json_object()
    if not isinstance(body.get("version"), int):
        raise InvalidInput(
            "Send the route's current version (from GET /api/routes) with the change.", code="no_version"
        )
    changes = {key: value for key, value in body.items() if key != "version"}
    ctx.book.update(name, changes, version=body["version"], by=current_actor(), now=ctx.clock.now())
    return respond(route_schemas.RouteItem, _item(name))


@bp.delete("/routes/<name>")
@require(Role.ADMIN)
@operation(
    summary="Remove a route made over the API; with deliveries waiting, only with discard=true",
    parameters=[
        path_param("name", "A route's name"),
        {
            "in": "query",
            "name": "discard",
            "schema": {"type": "boolean"},
            "description": "End its waiting deliveries as dead",
        },
    ],
    responses={
        "204": {"description": "Removed"},
        **answers(
            r400="A path or query the database cannot keep (a NUL character)",
            r404="No such route",
            r409="Deliveries wait, or a route of the config file",
        ),
    },
)
def delete_route(name: str) -> Response:
    ctx = services()
    discard = request.args.get("discard", "").lower() in ("1", "true", "yes")
    routes = ctx.routes.refresh().routes
    ctx.book.delete(name, discard=discard, by=current_actor(), now=ctx.clock.now(), routes=routes)
    return Response(status=204)


def _item(name: str) -> dict[str, object]:
    """The route as listed, read after a change made here (this process sees it at once)."""
    ctx = services()
    (item,) = route_items(ctx.store, ctx.book, ctx.routes.refresh(), now=ctx.clock.now(), only=name)
    return item


@bp.post("/routes/<name>/pause")
@require(Role.OPERATOR)
@operation(
    summary="Pause a route by hand: its deliveries wait, spending no attempts",
    parameters=[path_param("name", "A configured route's name")],
    responses=answers(r200="Route", r404="No such route"),
)
def pause_route(name: str) -> Response:
    return _set_paused(name, paused=True)


@bp.post("/routes/<name>/resume")
@require(Role.OPERATOR)
@operation(
    summary="Resume a paused route: its waiting deliveries go out",
    parameters=[path_param("name", "A configured route's name")],
    responses=answers(r200="Route", r404="No such route"),
)
def resume_route(name: str) -> Response:
    return _set_paused(name, paused=False)


def _set_paused(name: str, *, paused: bool) -> Response:
    ctx = services()
    routes = ctx.routes.refresh()
    item, _ = set_paused(ctx.store, ctx.book, routes, name, paused, by=current_actor(), now=ctx.clock.now())
    return respond(route_schemas.RouteItem, item)


@bp.get("/deliveries")
@require(Role.VIEWER)
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
