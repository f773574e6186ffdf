"""Routes: which events go to which handler, with what options, filters, limits and retry policy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from webhook_app.model.events import Event
from webhook_app.model.retry import RetryPolicy

_MISSING = object()


@dataclass(frozen=True)
class FieldCondition:
    """One `where` key: a dotted path into the CloudEvent and what its value must be.

    Globs (any may match) match text; a boolean or a number must be equal (and a boolean
    is not a number: `true` never equals `1`). A path the event does not have never matches.
    """

    path: str
    globs: tuple[str, ...] = ()
    equals: bool | int | float | None = None

    def holds(self, document: Mapping[str, Any]) -> bool:
        value: Any = document
        for part in self.path.split("."):
            value = value.get(part, _MISSING) if isinstance(value, Mapping) else _MISSING
            if value is _MISSING:
                return False
        if self.globs:
            return isinstance(value, str) and any(fnmatchcase(value, glob) for glob in self.globs)
        return type(value) is type(self.equals) and value == self.equals


@dataclass(frozen=True)
class Route:
    name: str
    handler: str
    events: tuple[str, ...] = ("*",)
    providers: tuple[str, ...] | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    options: dict[str, Any] = field(default_factory=dict, repr=False)  # may hold secrets
    where: tuple[FieldCondition, ...] = ()
    rate_limit: str | None = None
    """`N/s`, `N/m` or `N/h`: handler calls for this route, across all workers and hosts."""
    pause_after_failures: int = 20
    """Consecutive failed attempts before the route pauses itself; 0 = never."""
    probe_seconds: float = 60.0
    """While paused, one delivery is tried this often."""

    def matches(self, event_type: str, provider: str) -> bool:
        """By type and provider only (what `routes check --send-test` can know beforehand).

        Ops events go only to routes that ask for them by a pattern starting `ops.`: `*`
        (the default) means every voice event, so a partner's feed never gets the service's
        own news by accident."""
        if self.providers is not None and provider not in self.providers:
            return False
        ops = event_type.startswith("ops.")
        return any(fnmatchcase(event_type, p) and p.startswith("ops.") == ops for p in self.events)

    def accepts(self, event: Event, document: Mapping[str, Any] | None = None) -> bool:
        """Whether `event` goes to this route: type, provider and every `where` condition."""
        if not self.matches(str(event.type), event.data.provider):
            return False
        if not self.where:
            return True
        document = document if document is not None else event.to_cloudevent()
        return all(condition.holds(document) for condition in self.where)

    @property
    def send_interval(self) -> float | None:
        """Seconds between two handler calls under `rate_limit`, or None without a limit."""
        return rate_interval(self.rate_limit) if self.rate_limit else None

    def patterns_matching_nothing(self, known_types: tuple[str, ...]) -> list[str]:
        """Patterns no event type can match: a typo (`voice.dataset.issues`) that would stay silent."""
        return [p for p in self.events if not any(fnmatchcase(known, p) for known in known_types)]


_RATE_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def rate_interval(text: str) -> float:
    """`2/s` → 0.5; ValueError for anything but `N/s`, `N/m` or `N/h` with N ≥ 1."""
    count, _, unit = text.strip().partition("/")
    if unit not in _RATE_UNITS or not count.isdigit() or int(count) < 1:
        raise ValueError(f"{text!r} is not a rate: write N/s, N/m or N/h, e.g. 1/s")
    return _RATE_UNITS[unit] / int(count)


DEFAULT_ROUTES: tuple[Route, ...] = (Route(name="log", handler="log"),)
"""With no config file every event goes to the `log` handler, so a new install shows the flow."""


def field_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Marshmallow's nested messages by field path (`retry.max_attempts`: ["…"])."""
    if isinstance(messages, dict):
        found: dict[str, list[str]] = {}
        for key, value in messages.items():
            name = prefix if key == "_schema" else (f"{prefix}.{key}" if prefix else str(key))
            for path, texts in field_errors(value, name).items():
                found.setdefault(path, []).extend(texts)
        return found
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return {prefix: [m.replace("Unknown field.", "unknown field.") for m in messages]}
    if isinstance(messages, list):
        return field_errors(dict(enumerate(messages)), prefix)
    return {prefix: [str(messages)]}


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
