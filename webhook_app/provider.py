"""What a provider is: a source of voice events, registered like handlers.

A provider that sends callbacks (Resemble) authenticates a request to
`/hooks/<name>/<token>` and parses its JSON body into events; the ingest step does the rest
(the body limit, JSON, text a database cannot keep, the receipt, deduplication, routing,
acknowledgement). A provider that is polled instead (Azure) adds its admin API
(`blueprints`) and a worker job (`jobs`). Installed providers register under the
entry-point group `webhook_app.providers`. This module imports neither Flask nor
SQLAlchemy, so a plugin that imports it stays light.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar

from webhook_app.errors import WebhookAppError
from webhook_app.events import OPS_PROVIDER, Event
from webhook_app.tokens import token_matches

PROVIDER_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
"""A provider's name: lower-case letters, digits and '-', as in its callback path."""

ENTRY_POINT_GROUP = "webhook_app.providers"


@cache
def installed_provider_names() -> tuple[str, ...]:
    """The names of the installed providers, read from the entry points without importing them."""
    return tuple(sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)))


def check_provider_name(name: str) -> None:
    """ValueError unless `name` is an installed provider's, or the service's own (`webhook-app`,
    the `provider` of ops events)."""
    installed = (*installed_provider_names(), OPS_PROVIDER)
    if name not in installed:
        raise ValueError(f"no provider named {name!r} is installed (installed: {', '.join(installed)})")


if TYPE_CHECKING:
    from flask import Blueprint

    from webhook_app.config import Settings
    from webhook_app.worker import Job, JobContext


class InvalidCallback(WebhookAppError):
    """The body is not a callback of this provider: answered `422` (or `status`) and kept as rejected."""

    def __init__(
        self, message: str, details: object = None, *, status: int = 422, code: str = "invalid_callback"
    ) -> None:
        super().__init__(message)
        self.message, self.details, self.status, self.code = message, details, status, code


@dataclass(frozen=True)
class ParsedCallback:
    events: Sequence[Event]
    dedupe_key: str | None
    """Identical callbacks share it; a second one within `DEDUPE_WINDOW` records nothing new."""


class Provider:
    """Base class for providers; subclasses set `name` and implement what they offer."""

    name: ClassVar[str] = ""
    """The path segment in `/hooks/<name>/<token>` and the `provider` of its events."""
    sends_callbacks: ClassVar[bool] = True
    """False for a provider that is only polled: `/hooks/<name>/…` is then always 404."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def tokens(self) -> tuple[str, ...]:
        """The valid callback-URL tokens: `WEBHOOK_APP_<NAME>_TOKENS`, comma-separated."""
        return self.settings.callback_tokens(self.name)

    def authenticate(self, token: str, headers: Mapping[str, str]) -> bool:
        """Whether the callback URL is this provider's, before the body is read (else `404`,
        nothing kept). Header names are lower-case. The default compares the token in
        constant time."""
        return token_matches(token, self.tokens())

    def verify(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Whether a signed body is genuine (else `401`, nothing kept); for providers that sign."""
        return True

    def parse(self, body: Any, *, receipt_id: str, received_at: datetime) -> ParsedCallback:
        """Turn a parsed JSON body into events; raise `InvalidCallback` to reject it."""
        raise NotImplementedError

    def blueprints(self) -> list[Blueprint]:
        """Flask blueprints this provider adds to the web app (e.g. its admin API)."""
        return []

    def jobs(self, context: JobContext) -> list[Job]:
        """Periodic work this provider adds to every worker process (e.g. polling)."""
        return []
