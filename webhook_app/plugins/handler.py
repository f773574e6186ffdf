"""What a handler is: a class with a `name` and `handle(event)`.

`handle` returns normally on success, optionally a `Delivered` saying what the target
answered (kept with the attempt). It raises `RetryableError` when a later attempt may
succeed (optionally with `retry_after` seconds) and `PermanentError` when none can. Any
other exception counts as retryable, so a bug in a handler never loses an event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from marshmallow import Schema, ValidationError

from webhook_app.model.events import Event


@dataclass(frozen=True)
class Delivered:
    """What the target answered a successful delivery: its HTTP or SMTP code and the start of its answer."""

    status_code: int | None = None
    response: str | None = None


class Handler:
    """Base class for handlers; subclasses set `name`, maybe `Options`, and implement `handle`."""

    name: ClassVar[str] = ""
    Options: ClassVar[type[Schema] | None] = None
    """A marshmallow schema for the route's `[routes.options]`; None accepts none."""
    public_url: str | None = None
    """The service's external base URL (`PUBLIC_URL`), set when the handler is built, for links."""

    def event_page(self, event: Event) -> str | None:
        """Where a person sees the event, when the service's external address is known."""
        return f"{self.public_url}/ui/events/{event.id}" if self.public_url else None

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = dict(options)

    def handle(self, event: Event) -> Delivered | None:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections or clients; called when the worker stops."""

    @classmethod
    def from_route_options(cls, options: Mapping[str, Any]) -> Handler:
        """Validate the options with `Options` and build the handler; errors name the field."""
        if cls.Options is None:
            if options:
                raise ValidationError({key: ["unknown option."] for key in options})
            return cls({})
        return cls(cls.Options().load(dict(options)))
