"""Routes: which events go to which handler, with what options and retry policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from webhook_app.errors import ConfigError
from webhook_app.provider import PROVIDER_NAME
from webhook_app.retry import RetryPolicy

PROVIDER_NAME_ERROR = "a provider's name: lower-case letters, digits and '-', e.g. resemble"


@dataclass(frozen=True)
class Route:
    name: str
    handler: str
    events: tuple[str, ...] = ("*",)
    providers: tuple[str, ...] | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    options: dict[str, Any] = field(default_factory=dict, repr=False)  # may hold secrets

    def matches(self, event_type: str, provider: str) -> bool:
        if self.providers is not None and provider not in self.providers:
            return False
        return any(fnmatchcase(event_type, pattern) for pattern in self.events)

    def patterns_matching_nothing(self, known_types: tuple[str, ...]) -> list[str]:
        """Patterns no event type can match: a typo (`voice.dataset.issues`) that would stay silent."""
        return [p for p in self.events if not any(fnmatchcase(known, p) for known in known_types)]


DEFAULT_ROUTES: tuple[Route, ...] = (Route(name="log", handler="log"),)
"""With no config file every event goes to the `log` handler, so a new install shows the flow."""


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
    providers = fields.List(
        fields.String(validate=validate.Regexp(PROVIDER_NAME, error=PROVIDER_NAME_ERROR)), load_default=None
    )
    retry = fields.Nested(_RetrySchema, load_default=lambda: _RetrySchema().load({}))
    options = fields.Dict(keys=fields.String(), load_default=dict)


def parse_routes(raw: Any, source: str) -> tuple[Route, ...]:
    """Validate the `[[routes]]` tables of a config file; errors name file, route and field."""
    if not isinstance(raw, list):
        raise ConfigError(f"{source}: 'routes' must be an array of tables ([[routes]])")
    routes: list[Route] = []
    seen: set[str] = set()
    for index, table in enumerate(raw):
        label = table.get("name", f"#{index + 1}") if isinstance(table, dict) else f"#{index + 1}"
        try:
            loaded = _RouteSchema().load(table)
        except ValidationError as exc:
            raise ConfigError(
                f"{source}: route '{label}': {describe_validation_error(exc.messages)}"
            ) from None
        if loaded["name"] in seen:
            raise ConfigError(f"{source}: route '{loaded['name']}': field 'name': used twice")
        seen.add(loaded["name"])
        routes.append(
            Route(
                name=loaded["name"],
                handler=loaded["handler"],
                events=tuple(loaded["events"]),
                providers=tuple(loaded["providers"]) if loaded["providers"] is not None else None,
                retry=RetryPolicy(**loaded["retry"]),
                options=loaded["options"],
            )
        )
    return tuple(routes)


def describe_validation_error(messages: Any, prefix: str = "") -> str:
    """Flatten marshmallow's nested messages into `field 'a.b': message` sentences."""
    if isinstance(messages, dict):
        parts = []
        for key, value in messages.items():
            name = prefix if key == "_schema" else (f"{prefix}.{key}" if prefix else str(key))
            parts.append(describe_validation_error(value, name))
        return "; ".join(parts)
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        text = " ".join(messages).replace("Unknown field.", "unknown field.")
        return f"field '{prefix}': {text}" if prefix else text
    if isinstance(messages, list):
        return "; ".join(describe_validation_error(m, prefix) for m in messages)
    return f"field '{prefix}': {messages}"
