"""`GET /api/stats`: what the dashboard draws, for a window of 24 hours, 7 days or 30 days."""

from __future__ import annotations

from flask import Blueprint, Response
from marshmallow import RAISE, Schema, fields, validate

from webhook_app.model.states import Role
from webhook_app.services import services
from webhook_app.usecases.stats import WINDOWS, stats
from webhook_app.web import schemas
from webhook_app.web.apidoc import answers, operation
from webhook_app.web.auth import require
from webhook_app.web.query import load_query
from webhook_app.web.schemas import respond

bp = Blueprint("stats", __name__, url_prefix="/api")


class StatsQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    window = fields.String(load_default="24h", validate=validate.OneOf(WINDOWS))


@bp.get("/stats")
@require(Role.VIEWER)
@operation(
    summary="Events and delivery outcomes over time, route latency, what needs attention",
    parameters=[{"in": "query", "schema": StatsQuerySchema}],
    responses=answers(r200="Stats", r400="Invalid query parameters"),
)
def get_stats() -> Response:
    args = load_query(StatsQuerySchema)
    ctx = services()
    answer = stats(ctx.store, args["window"], now=ctx.clock.now(), providers=ctx.provider_classes)
    return respond(schemas.stats_schema(tuple(ctx.provider_classes)), answer)
