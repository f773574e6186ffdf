"""Routes: which events go to which handler, with what options and retry policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from webhook_app.retry import RetryPolicy


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
