"""`GET /openapi.json`: the OpenAPI 3 document, generated from the marshmallow schemas in use.

Request bodies and query parameters come from the schemas the views validate with
(`CallbackSchema`, `EventQuerySchema`, `TrackSchema`), answers from `api.schemas`, which
the views serialize through.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Response, jsonify

from webhook_app.plugins.provider import Provider
from webhook_app.services import services
from webhook_app.web import schemas
from webhook_app.web.api.events import (
    EventQuerySchema,
    ReceiptQuerySchema,
    ReplayQuerySchema,
    VoiceQuerySchema,
)
from webhook_app.web.api.routes import DeliveryQuerySchema
from webhook_app.web.api.stats import StatsQuerySchema
from webhook_app.web.query import PageQuerySchema

bp = Blueprint("openapi", __name__)

ADMIN: list[dict[str, list[str]]] = [{"admin": []}]
JSON = "application/json"


def answers(**codes: Any) -> dict[str, Any]:
    """Responses: a schema's name (one word) for a JSON body, or a description for an error."""
    out: dict[str, Any] = {}
    for code, what in codes.items():
        status = code.removeprefix("r")
        if " " not in what:
            out[status] = {"description": what, "content": {JSON: {"schema": what}}}
        else:
            out[status] = {"description": what, "content": {JSON: {"schema": "Error"}}}
    return out


SCHEMAS: dict[str, Any] = {
    "Error": schemas.Error,
    "CloudEvent": schemas.CloudEvent,
    "EventDetail": schemas.EventDetail,
    "EventPage": schemas.EventPage,
    "EventData": schemas.EventData,
    "OpsData": schemas.OpsData,
    "DeliveryPage": schemas.DeliveryPage,
    "Route": schemas.RouteItem,
    "RoutePage": schemas.RoutePage,
    "Voice": schemas.Voice,
    "Receipt": schemas.Receipt,
    "ReceiptPage": schemas.ReceiptPage,
    "VoicePage": schemas.VoicePage,
    "Stats": schemas.Stats,
    "IngestResult": schemas.IngestResult,
    "Replay": schemas.Replay,
    "Health": schemas.Health,
    "Ready": schemas.Ready,
}

ADMIN_ERRORS = {"r401": "No or wrong admin token", "r503": "The database is unavailable"}


def path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "in": "path",
        "name": name,
        "required": True,
        "schema": {"type": "string"},
        "description": description,
    }


PATHS: dict[str, dict[str, Any]] = {
    "/hooks/{provider_name}/{token}": {
        "post": {
            "summary": "Receive a provider's callback",
            "description": "Stored before it is acknowledged; the path's token is the caller's credential. "
            "The body is the provider's own (one of the schemas below, by provider).",
            "parameters": [
                path_param("provider_name", "An installed provider that calls back"),
                path_param("token", "One of WEBHOOK_APP_<PROVIDER>_TOKENS"),
            ],
            "requestBody": {"required": True, "content": {JSON: {"schema": {}}}},
            "responses": answers(
                r200="IngestResult",
                r202="IngestResult",
                r400="Not JSON",
                r404="No callback URL with this token",
                r413="Body over MAX_BODY_BYTES",
                r415="Not application/json",
                r422="Not a valid callback (kept as a rejected receipt)",
                r503="The database is unavailable; retry",
            ),
        }
    },
    "/api/events": {
        "get": {
            "summary": "List events, newest first",
            "security": ADMIN,
            "parameters": [{"in": "query", "schema": EventQuerySchema}],
            "responses": answers(r200="EventPage", r400="Invalid query parameters", **ADMIN_ERRORS),
        }
    },
    "/api/events/{event_id}": {
        "get": {
            "summary": "One event with its deliveries and their attempts",
            "security": ADMIN,
            "parameters": [path_param("event_id", "An event id (evt_…)")],
            "responses": answers(r200="EventDetail", r404="No such event", **ADMIN_ERRORS),
        }
    },
    "/api/events/{event_id}/recordings.csv": {
        "get": {
            "summary": "The event's recordings as CSV, flagged ones first: the re-record list",
            "description": "Columns: name, transcript, reasons, each score, each flag, id. "
            "A cell a spreadsheet would run as a formula starts with '.",
            "security": ADMIN,
            "parameters": [path_param("event_id", "An event id (evt_…)")],
            "responses": {
                "200": {
                    "description": "The CSV file",
                    "content": {"text/csv": {"schema": {"type": "string"}}},
                },
                **answers(r404="No such event", **ADMIN_ERRORS),
            },
        }
    },
    "/api/events/{event_id}/replay": {
        "post": {
            "summary": "Deliver an event again, to every matching route or one",
            "security": ADMIN,
            "parameters": [
                path_param("event_id", "An event id (evt_…)"),
                {"in": "query", "schema": ReplayQuerySchema},
            ],
            "responses": answers(
                r202="Replay", r400="Invalid query parameters", r404="No such event or route", **ADMIN_ERRORS
            ),
        }
    },
    "/api/routes": {
        "get": {
            "summary": "Each configured route: state, waiting and dead deliveries, the last 24 hours",
            "security": ADMIN,
            "responses": answers(r200="RoutePage", **ADMIN_ERRORS),
        }
    },
    "/api/routes/{name}/pause": {
        "post": {
            "summary": "Pause a route by hand: its deliveries wait, spending no attempts",
            "security": ADMIN,
            "parameters": [path_param("name", "A configured route's name")],
            "responses": answers(r200="Route", r404="No such route", **ADMIN_ERRORS),
        }
    },
    "/api/routes/{name}/resume": {
        "post": {
            "summary": "Resume a paused route: its waiting deliveries go out",
            "security": ADMIN,
            "parameters": [path_param("name", "A configured route's name")],
            "responses": answers(r200="Route", r404="No such route", **ADMIN_ERRORS),
        }
    },
    "/api/deliveries": {
        "get": {
            "summary": "Deliveries, newest first",
            "security": ADMIN,
            "parameters": [{"in": "query", "schema": DeliveryQuerySchema}],
            "responses": answers(r200="DeliveryPage", r400="Invalid query parameters", **ADMIN_ERRORS),
        }
    },
    "/api/voices": {
        "get": {
            "summary": "Voices, most recent activity first (rolled up by the workers, a few seconds behind)",
            "security": ADMIN,
            "parameters": [{"in": "query", "schema": VoiceQuerySchema}],
            "responses": answers(r200="VoicePage", r400="Invalid query parameters", **ADMIN_ERRORS),
        }
    },
    "/api/stats": {
        "get": {
            "summary": "Events and delivery outcomes over time, route latency, what needs attention",
            "security": ADMIN,
            "parameters": [{"in": "query", "schema": StatsQuerySchema}],
            "responses": answers(r200="Stats", r400="Invalid query parameters", **ADMIN_ERRORS),
        }
    },
    "/api/voices/{provider}/{voice_id}": {
        "get": {
            "summary": "A voice's latest status and its timeline, oldest first, a page at a time",
            "security": ADMIN,
            "parameters": [
                path_param("provider", "An installed provider's name"),
                path_param("voice_id", "The voice id"),
                {"in": "query", "schema": PageQuerySchema},
            ],
            "responses": answers(
                r200="Voice", r400="Invalid query parameters", r404="No events for this voice", **ADMIN_ERRORS
            ),
        }
    },
    "/api/receipts": {
        "get": {
            "summary": "Receipts, newest first: what arrived, accepted or rejected and why",
            "security": ADMIN,
            "parameters": [{"in": "query", "schema": ReceiptQuerySchema}],
            "responses": answers(r200="ReceiptPage", r400="Invalid query parameters", **ADMIN_ERRORS),
        }
    },
    "/api/receipts/{receipt_id}": {
        "get": {
            "summary": "A request as it arrived",
            "security": ADMIN,
            "parameters": [path_param("receipt_id", "A receipt id (rcpt_…)")],
            "responses": answers(r200="Receipt", r404="No such receipt", **ADMIN_ERRORS),
        }
    },
    "/api/receipts/{receipt_id}/reprocess": {
        "post": {
            "summary": "Validate a rejected receipt again; record its events if it passes now",
            "security": ADMIN,
            "parameters": [path_param("receipt_id", "A receipt id (rcpt_…)")],
            "responses": answers(
                r200="IngestResult",
                r201="IngestResult",
                r404="No such receipt",
                r409="Reprocessed already (the receipt is accepted)",
                r422="Still not a valid callback",
                **ADMIN_ERRORS,
            ),
        }
    },
    "/healthz": {"get": {"summary": "The process answers", "responses": answers(r200="Health")}},
    "/readyz": {
        "get": {
            "summary": "The database is reachable and migrated",
            "responses": answers(r200="Ready", r503="Not ready"),
        }
    },
}


def build_spec(providers: Sequence[type[Provider]]) -> dict[str, Any]:
    """The document, with each provider's part; `/hooks/{provider_name}/…` takes the names of
    those that send callbacks, and one of their callback schemas."""
    spec = APISpec(
        title="webhook-app",
        version=version("webhook-app"),
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": "Voice-provider webhooks in, one normalized event stream out."},
    )
    spec.components.security_scheme("admin", {"type": "http", "scheme": "bearer"})
    fragments = {provider.name: provider.openapi() for provider in providers}
    for name, schema in SCHEMAS.items():
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
    paths = copy.deepcopy(PATHS)
    hook = paths["/hooks/{provider_name}/{token}"]["post"]
    hook["parameters"][0]["schema"]["enum"] = [p.name for p in callbacks]
    hook["requestBody"]["content"][JSON]["schema"] = bodies[0] if len(bodies) == 1 else {"oneOf": bodies}
    for fragment in fragments.values():
        paths.update(copy.deepcopy(dict(fragment.paths)))
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(build_spec([type(p) for p in services().providers.values()]))
