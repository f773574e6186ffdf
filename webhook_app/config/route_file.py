"""Reading `[[routes]]` from a config file: validated, with errors that name file, route and field.

Apart from `routes.py` (what a route is) so that commands that only read the store do
not load marshmallow unless the config file has routes to check.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from webhook_app.errors import ConfigError, WebhookAppError
from webhook_app.model.retry import RetryPolicy
from webhook_app.model.routes import (
    FieldCondition,
    Route,
    field_errors,
    rate_interval,
)
from webhook_app.plugins.provider import check_provider_name


def installed_provider(name: str) -> None:
    """A marshmallow validator: the name of an installed provider."""
    try:
        check_provider_name(name)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


WHERE_PATHS = frozenset(
    {"id", "source", "type", "subject", "time", "receipt_id", "test"}
    | {f"data.{name}" for name in (
        "provider", "voice_id", "status", "ok", "issue", "recordings_omitted", "speaker_profile_id",
        "operation_id", "error.code", "error.message",
    )}
    | {f"data.{name}" for name in (  # ops events (docs/design.md, "Ops events")
        "route", "delivery_id", "event_id", "event_type", "attempts", "reason", "consecutive_failures",
        "paused_seconds", "resource_id", "status_code",
    )}
)  # fmt: skip
"""What `where` may test: the CloudEvent's attributes and the scalar fields of `data`."""


def rate_limit(text: str) -> None:
    try:
        rate_interval(text)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class _WhereValue(fields.Field):
    """A glob, a list of globs, or a boolean or number to equal."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
            return tuple(value)
        if isinstance(value, bool | int | float):
            return value
        raise ValidationError("use a glob, a list of globs, or a boolean or number to equal")


def where_path(path: str) -> None:
    if path not in WHERE_PATHS:
        raise ValidationError(f"unknown path {path!r}; use one of {', '.join(sorted(WHERE_PATHS))}")


def conditions(where: dict[str, Any]) -> tuple[FieldCondition, ...]:
    return tuple(
        FieldCondition(path, globs=value) if isinstance(value, tuple) else FieldCondition(path, equals=value)
        for path, value in where.items()
    )


class _RetrySchema(Schema):
    class Meta:
        unknown = RAISE

    max_attempts = fields.Integer(load_default=8, validate=validate.Range(min=1, max=1000))
    base_seconds = fields.Float(load_default=5.0, validate=validate.Range(min=0))
    max_seconds = fields.Float(load_default=36000.0, validate=validate.Range(min=0))
    factor = fields.Float(load_default=6.0, validate=validate.Range(min=1))


class _RouteSchema(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[A-Za-z0-9_.-]{1,100}$",
            error="use letters, digits, '.', '_' or '-' (at most 100)",
        ),
    )
    handler = fields.String(required=True, validate=validate.Length(min=1))
    events = fields.List(fields.String(), load_default=lambda: ["*"], validate=validate.Length(min=1))
    providers = fields.List(fields.String(validate=installed_provider), load_default=None)
    retry = fields.Nested(_RetrySchema, load_default=lambda: _RetrySchema().load({}))
    options = fields.Dict(keys=fields.String(), load_default=dict)
    where = fields.Dict(keys=fields.String(validate=where_path), values=_WhereValue(), load_default=dict)
    rate_limit = fields.String(validate=rate_limit, load_default=None)
    pause_after_failures = fields.Integer(load_default=20, validate=validate.Range(min=0))
    probe_seconds = fields.Float(load_default=60.0, validate=validate.Range(min=1))


class InvalidRoute(WebhookAppError):
    """A route the TOML loader would refuse: `details` holds the messages by field path."""

    status, code = 422, "invalid_route"
    details: dict[str, list[str]]

    def __init__(self, details: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"field '{path}': {' '.join(texts)}" for path, texts in details.items()))
        self.details = details


def route_document(table: Any) -> dict[str, Any]:
    """A route's table checked and completed with its defaults: what is stored and shown.
    `InvalidRoute` names each field it refuses, with the messages the config file gets."""
    if not isinstance(table, dict):
        raise InvalidRoute({"": ["a route is a table (an object) of fields"]})
    try:
        loaded = _RouteSchema().load(table)
    except ValidationError as exc:
        raise InvalidRoute(field_errors(exc.messages)) from None
    where = {
        path: list(value) if isinstance(value, tuple) else value for path, value in loaded["where"].items()
    }
    return {**loaded, "where": where}


def route_from_document(document: dict[str, Any], options: dict[str, Any]) -> Route:
    """The route a stored document describes, with its options as this process resolved them."""
    where = {k: tuple(v) if isinstance(v, list) else v for k, v in document["where"].items()}
    return Route(
        name=document["name"],
        handler=document["handler"],
        events=tuple(document["events"]),
        providers=tuple(document["providers"]) if document["providers"] is not None else None,
        retry=RetryPolicy(**document["retry"]),
        options=options,
        where=conditions(where),
        rate_limit=document["rate_limit"],
        pause_after_failures=document["pause_after_failures"],
        probe_seconds=document["probe_seconds"],
    )


def route_table(route: Route) -> dict[str, Any]:
    """A route as its `[[routes]]` table (for routes given as objects, not read from a file)."""
    return {
        "name": route.name,
        "handler": route.handler,
        "events": list(route.events),
        "providers": list(route.providers) if route.providers is not None else None,
        "retry": dataclasses.asdict(route.retry),
        "options": dict(route.options),
        "where": {c.path: list(c.globs) if c.globs else c.equals for c in route.where},
        "rate_limit": route.rate_limit,
        "pause_after_failures": route.pause_after_failures,
        "probe_seconds": route.probe_seconds,
    }


def parse_routes(raw: Any, source: str) -> tuple[Route, ...]:
    """Validate the `[[routes]]` tables of a config file; errors name file, route and field."""
    if not isinstance(raw, list):
        raise ConfigError(f"{source}: 'routes' must be an array of tables ([[routes]])")
    routes: list[Route] = []
    seen: set[str] = set()
    for index, table in enumerate(raw):
        label = table.get("name", f"#{index + 1}") if isinstance(table, dict) else f"#{index + 1}"
        try:
            document = route_document(table)
        except InvalidRoute as exc:
            raise ConfigError(f"{source}: route '{label}': {exc}") from None
        if document["name"] in seen:
            raise ConfigError(f"{source}: route '{document['name']}': field 'name': used twice")
        seen.add(document["name"])
        routes.append(route_from_document(document, document["options"]))
    return tuple(routes)
