"""Admin API for tracked Azure operations: `POST/GET /api/azure/operations[/<id>]`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from webhook_app.errors import InvalidInput
from webhook_app.model.states import OperationKind, OperationState, Role, values
from webhook_app.plugins.provider import OpenAPIFragment
from webhook_app.providers.azure.mapping import KINDS, check_resource_id
from webhook_app.providers.azure.operations import OperationStore, TrackedOperation
from webhook_app.providers.azure.poller import track_operation
from webhook_app.services import services
from webhook_app.web import schemas
from webhook_app.web.apidoc import JSON, answers, operation, path_param
from webhook_app.web.auth import require
from webhook_app.web.body import storable_text
from webhook_app.web.errors import api_error
from webhook_app.web.query import json_object, load_query
from webhook_app.web.schemas import respond

bp = Blueprint("azure", __name__, url_prefix="/api/azure")

INVALID_OPERATION = "The operation to track is not valid."


def _azure_resource_id(value: str) -> None:
    try:
        check_resource_id(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class Operation(Schema):
    id = fields.String(required=True)
    operation_url = fields.String(required=True)
    operation_id = fields.String(required=True)
    kind = fields.String(required=True, metadata={"enum": list(values(OperationKind))})
    resource_id = fields.String(required=True)
    status = fields.String(required=True)
    state = fields.String(required=True, metadata={"enum": list(values(OperationState))})
    attempts = fields.Integer(required=True)
    next_poll_at = schemas.Moment(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = schemas.Moment(required=True)


class OperationPage(Schema):
    items = fields.List(fields.Nested(Operation), required=True)


class TrackSchema(Schema):
    class Meta:
        unknown = RAISE

    operation_url = fields.String(required=True, validate=[validate.Length(min=1, max=2000), storable_text])
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    resource_id = fields.String(required=True, validate=_azure_resource_id)


class OperationQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    state = fields.String(validate=validate.OneOf(values(OperationState)))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


def operation_json(operation: TrackedOperation) -> dict[str, Any]:
    return {
        "id": operation.id,
        "operation_url": operation.operation_url,
        "operation_id": operation.operation_id,
        "kind": operation.kind,
        "resource_id": operation.resource_id,
        "status": operation.status,
        "state": operation.state,
        "attempts": operation.polls,
        "next_poll_at": operation.next_poll_at if operation.state == OperationState.ACTIVE else None,
        "last_error": operation.last_error,
        "created_at": operation.created_at,
    }


@bp.post("/operations")
@require(Role.OPERATOR)
@operation(
    summary="Track an Azure operation (Operation-Location)",
    request_body={"required": True, "content": {JSON: {"schema": "TrackOperation"}}},
    responses=answers(
        r200="Operation",
        r201="Operation",
        r400="Not a JSON object",
        r422="Not a trackable operation (e.g. a host off the allow-list)",
    ),
)
def track() -> Response:
    ctx = services()
    body = json_object("{operation_url, kind, resource_id}")
    try:
        args = TrackSchema().load(body)
    except ValidationError as exc:
        raise InvalidInput(INVALID_OPERATION, exc.messages, status=422, code="invalid_operation") from None
    operation, created = track_operation(
        OperationStore(ctx.store),
        ctx.settings,
        url=args["operation_url"],
        kind=args["kind"],
        resource_id=args["resource_id"],
        now=ctx.clock.now(),
    )
    return respond(Operation, operation_json(operation), 201 if created else 200)


@bp.get("/operations")
@require(Role.VIEWER)
@operation(
    summary="Tracked operations, newest first",
    parameters=[
        {
            "in": "query",
            "name": "state",
            "schema": {"type": "string", "enum": list(values(OperationState))},
        },
        {
            "in": "query",
            "name": "limit",
            "schema": {"type": "integer", "minimum": 1, "maximum": 500},
        },
    ],
    responses=answers(r200="OperationPage", r400="Invalid query parameters"),
)
def list_operations() -> Response:
    args = load_query(OperationQuerySchema)
    operations = OperationStore(services().store).recent(state=args.get("state"), limit=args["limit"])
    return respond(OperationPage, {"items": [operation_json(o) for o in operations]})


@bp.get("/operations/<operation_id>")
@require(Role.VIEWER)
@operation(
    summary="One tracked operation",
    parameters=[path_param("operation_id", "A tracked operation id (op_…)")],
    responses=answers(r200="Operation", r404="No such operation"),
)
def get_operation(operation_id: str) -> Response:
    operation = OperationStore(services().store).get(operation_id)
    if operation is None:
        return api_error(404, "not_found", f"No tracked operation with id {operation_id}.")
    return respond(Operation, operation_json(operation))


def openapi_fragment() -> OpenAPIFragment:
    """Azure's schemas for `/openapi.json` (its paths are its views' `@operation`s)."""
    schemas = {"Operation": Operation, "OperationPage": OperationPage, "TrackOperation": TrackSchema}
    by_state = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    return OpenAPIFragment(
        schemas=schemas,
        stats={"azure_operations": by_state},
        attention={
            "azure_operations": fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
        },
    )
