"""The routes' shapes in the API: a route as listed, as made and as changed."""

from __future__ import annotations

from marshmallow import Schema, fields

from webhook_app.model.states import PauseReason, RouteState, values
from webhook_app.web.schemas import Moment


class RouteCounts(Schema):
    pending = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    dead = fields.Integer(required=True)


class RecentAttempts(Schema):
    attempts = fields.Integer(required=True)
    succeeded = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    p50_ms = fields.Integer(allow_none=True, required=True)
    p99_ms = fields.Integer(allow_none=True, required=True)


class RouteBody(Schema):
    """A route's fields as in the config file's `[[routes]]` (checked by the same loader)."""

    name = fields.String(required=True, metadata={"description": "Letters, digits, '.', '_' or '-'"})
    handler = fields.String(
        required=True, metadata={"description": "log, slack, email, forward, or a plugin"}
    )
    events = fields.List(fields.String(), metadata={"description": "Type patterns; default ['*']"})
    providers = fields.List(fields.String(), allow_none=True)
    where = fields.Dict(keys=fields.String(), values=fields.Raw())
    retry = fields.Dict(keys=fields.String(), values=fields.Raw())
    rate_limit = fields.String(allow_none=True, metadata={"description": "N/s, N/m or N/h"})
    pause_after_failures = fields.Integer()
    probe_seconds = fields.Float()
    options = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        metadata={"description": "The handler's options; a secret as a value (sealed at rest) or as ${VAR}"},
    )


class RouteChange(RouteBody):
    """The fields to change, and the version they change; `options` are merged key by key (a
    secret given as '••••' or left out keeps its value, null removes an option)."""

    name = fields.String()
    handler = fields.String()
    version = fields.Integer(required=True)


class RouteItem(Schema):
    name = fields.String(required=True)
    handler = fields.String(required=True)
    events = fields.List(fields.String(), required=True)
    providers = fields.List(fields.String(), allow_none=True, required=True)
    where = fields.Dict(keys=fields.String(), values=fields.Raw(), required=True)
    retry = fields.Dict(keys=fields.String(), values=fields.Raw(), required=True)
    pause_after_failures = fields.Integer(required=True)
    probe_seconds = fields.Float(required=True)
    options = fields.Dict(
        keys=fields.String(), values=fields.Raw(), required=True, metadata={"description": "Secrets masked"}
    )
    source = fields.String(required=True, metadata={"enum": ["file", "api"]})
    version = fields.Integer(required=True)
    updated_at = Moment(required=True)
    updated_by = fields.String(required=True)
    problem = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "Why this process cannot deliver to it (its deliveries wait), or null"},
    )
    state = fields.String(required=True, metadata={"enum": list(values(RouteState))})
    paused_reason = fields.String(
        allow_none=True, required=True, metadata={"enum": [*values(PauseReason), None]}
    )
    paused_at = Moment(allow_none=True, required=True)
    consecutive_failures = fields.Integer(required=True)
    rate_limit = fields.String(allow_none=True)
    counts = fields.Nested(RouteCounts, required=True)
    last_success_at = Moment(allow_none=True, required=True)
    last_failure_at = Moment(allow_none=True, required=True)
    last_error = fields.String(allow_none=True)
    last_24h = fields.Nested(RecentAttempts, required=True)


class RoutePage(Schema):
    items = fields.List(fields.Nested(RouteItem), required=True)
