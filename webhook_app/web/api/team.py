"""Admin API for the team: named keys (`/api/keys`) and the audit log (`/api/audit`)."""

from __future__ import annotations

from flask import Blueprint, Response
from marshmallow import fields, validate

from webhook_app.model.states import Role
from webhook_app.services import services
from webhook_app.store import decode_cursor
from webhook_app.store.audit import AuditFilters
from webhook_app.usecases.filters import UTCMoment
from webhook_app.web import team_schemas
from webhook_app.web.apidoc import JSON, answers, operation, path_param
from webhook_app.web.auth import current_actor, require
from webhook_app.web.query import PageQuerySchema, json_object, load_query
from webhook_app.web.schemas import respond

bp = Blueprint("team", __name__, url_prefix="/api")


@bp.get("/keys")
@require(Role.ADMIN)
@operation(
    summary="Every key: name, role, made, last used, revoked (never the key itself)",
    responses=answers(r200="KeyList"),
)
def list_keys() -> Response:
    return respond(team_schemas.KeyList, {"items": services().keyring.listed()})


@bp.post("/keys")
@require(Role.ADMIN)
@operation(
    summary="Make a named key with a role; the answer is the only place the key is ever shown",
    request_body={"required": True, "content": {JSON: {"schema": "KeyBody"}}},
    responses=answers(
        r201="NewKey",
        r400="Not a JSON object",
        r409="A live key has that name",
        r422="A name or role that cannot be used (details by field)",
    ),
)
def create_key() -> Response:
    ctx = services()
    body = json_object("{name, role}")
    stored, key = ctx.keyring.create(
        body.get("name"), body.get("role"), by=current_actor(), now=ctx.clock.now()
    )
    return respond(team_schemas.NewKey, {"name": stored.name, "role": stored.role, "key": key}, 201)


@bp.delete("/keys/<name>")
@require(Role.ADMIN)
@operation(
    summary="Revoke a key: every process refuses it within 2 s, and its page sessions end",
    parameters=[path_param("name", "A key's name")],
    responses={
        "204": {"description": "Revoked"},
        **answers(r404="No live key of that name", r409="An env-N key (WEBHOOK_APP_ADMIN_TOKENS)"),
    },
)
def revoke_key(name: str) -> Response:
    ctx = services()
    ctx.keyring.revoke(name, by=current_actor(), now=ctx.clock.now())
    return Response(status=204)


class AuditQuerySchema(PageQuerySchema):
    actor = fields.String(validate=validate.Length(min=1, max=200))
    action = fields.String(validate=validate.Length(min=1, max=40))
    target = fields.String(validate=validate.Length(min=1, max=300))
    since = UTCMoment()
    until = UTCMoment()


@bp.get("/audit")
@require(Role.VIEWER)
@operation(
    summary="The audit log, newest first: who changed what, when, before and after",
    parameters=[{"in": "query", "schema": AuditQuerySchema}],
    responses=answers(r200="AuditPage", r400="Invalid query parameters"),
)
def list_audit() -> Response:
    args = load_query(AuditQuerySchema, lambda text, _: decode_cursor(text))
    names = ("actor", "action", "target", "since", "until")
    filters = AuditFilters(**{name: args.get(name) for name in names})
    items, next_cursor = services().store.audit.entries(
        filters, limit=args["limit"], cursor=args.get("cursor")
    )
    return respond(team_schemas.AuditPage, {"items": items, "next_cursor": next_cursor})
