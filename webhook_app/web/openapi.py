"""`GET /openapi.json`: the OpenAPI 3 document, generated from the views the app serves.

Each view carries its operation (`@operation`, `web/apidoc.py`); request bodies and query
parameters come from the marshmallow schemas the views validate with, answers from
`web/schemas.py`, which the views serialize through, and each provider adds its schemas
(`Provider.openapi()`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, current_app, jsonify

from webhook_app.plugins.provider import Provider
from webhook_app.services import services
from webhook_app.web import route_schemas, schemas, team_schemas
from webhook_app.web.apidoc import JSON, OPERATION_ATTRIBUTE, ROLE_ATTRIBUTE, guarded_operation
from webhook_app.web.hooks import CALLBACK_OPERATION, CALLBACK_PATH

bp = Blueprint("openapi", __name__)

SCHEMAS: dict[str, Any] = {
    "Error": schemas.Error,
    "CloudEvent": schemas.CloudEvent,
    "EventDetail": schemas.EventDetail,
    "EventPage": schemas.EventPage,
    "EventData": schemas.EventData,
    "OpsData": schemas.OpsData,
    "DeliveryPage": schemas.DeliveryPage,
    "Route": route_schemas.RouteItem,
    "RouteBody": route_schemas.RouteBody,
    "RouteChange": route_schemas.RouteChange,
    "RoutePage": route_schemas.RoutePage,
    "Voice": schemas.Voice,
    "Receipt": schemas.Receipt,
    "ReceiptPage": schemas.ReceiptPage,
    "VoicePage": schemas.VoicePage,
    "IngestResult": schemas.IngestResult,
    "Replay": schemas.Replay,
    "KeyBody": team_schemas.KeyBody,
    "KeyList": team_schemas.KeyList,
    "NewKey": team_schemas.NewKey,
    "AuditPage": team_schemas.AuditPage,
    "Health": schemas.Health,
    "Ready": schemas.Ready,
}


def build_spec(app: Flask, providers: Sequence[type[Provider]]) -> dict[str, Any]:
    """The document: every route the app serves whose view has an `@operation`, the callback
    endpoint (which runs ahead of Flask), and each provider's schemas."""
    spec = APISpec(
        title="webhook-app",
        version=version("webhook-app"),
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": "Voice-provider webhooks in, one normalized event stream out."},
    )
    spec.components.security_scheme("key", {"type": "http", "scheme": "bearer"})
    fragments = {provider.name: provider.openapi() for provider in providers}
    for name, schema in {**SCHEMAS, "Stats": schemas.stats_schema(tuple(providers))}.items():
        spec.components.schema(name, schema=schema)
    for fragment in fragments.values():
        for name, schema in fragment.schemas.items():
            if isinstance(schema, dict):
                spec.components.schema(name, schema)
            else:
                spec.components.schema(name, schema=schema)
    callbacks = [p for p in providers if p.sends_callbacks]
    bodies = [
        {"$ref": f"#/components/schemas/{s}"} for p in callbacks if (s := fragments[p.name].callback_schema)
    ]
    hook = copy.deepcopy(CALLBACK_OPERATION)
    hook["parameters"][0]["schema"]["enum"] = [p.name for p in callbacks]
    hook["requestBody"]["content"][JSON]["schema"] = bodies[0] if len(bodies) == 1 else {"oneOf": bodies}
    spec.path(path=CALLBACK_PATH, operations={"post": hook})
    for path, operations in _view_operations(app).items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _view_operations(app: Flask) -> dict[str, dict[str, Any]]:
    """`@operation`s of the app's views by OpenAPI path (`<path:voice_id>` → `{voice_id}`) and method."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        document = getattr(view, OPERATION_ATTRIBUTE, None)
        if document is None:
            continue
        if (role := getattr(view, ROLE_ATTRIBUTE, None)) is not None:
            document = guarded_operation(document, role)
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = copy.deepcopy(document)
    return paths


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(build_spec(current_app, [type(p) for p in services().providers.values()]))
