"""What a provider is: a source of voice events, registered like handlers.

A provider that sends callbacks authenticates a request to
`/hooks/<name>/<token>` and parses its JSON body into events; the ingest step does the rest
(the body limit, JSON, text a database cannot keep, the receipt, deduplication, routing,
acknowledgement). A provider that is polled instead adds its admin API
(`blueprints`) and a worker job (`jobs`). Installed providers register under the
entry-point group `webhook_app.providers`. This module imports neither Flask nor
SQLAlchemy, so a plugin that imports it stays light.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from webhook_app.errors import WebhookAppError
from webhook_app.model.events import OPS_PROVIDER, Event, EventType
from webhook_app.plugins.job import Job, JobContext
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


class InvalidCallback(WebhookAppError):
    """The body is not a callback of this provider: answered `422` (or `status`) and kept as rejected."""

    def __init__(
        self, message: str, details: object = None, *, status: int = 422, code: str = "invalid_callback"
    ) -> None:
        super().__init__(message)
        self.message, self.details, self.status, self.code = message, details, status, code


@dataclass(frozen=True)
class OpenAPIFragment:
    """What a provider adds to `/openapi.json`: component schemas (marshmallow classes or
    dicts) by name. Its admin API's paths come from its views' `@operation`s (`web/apidoc.py`)."""

    schemas: Mapping[str, Any] = field(default_factory=dict)
    callback_schema: str | None = None
    """The component that describes its callback's body, for `POST /hooks/<name>/<token>`."""
    stats: Mapping[str, Any] = field(default_factory=dict)
    """Marshmallow fields of what `Provider.stats` adds to `GET /api/stats`, by key."""
    attention: Mapping[str, Any] = field(default_factory=dict)
    """Marshmallow fields of what `Provider.attention` adds to the answer's `attention`."""


@dataclass(frozen=True)
class Panel:
    """A part of a core page a provider draws: a template its blueprint serves, and its values."""

    template: str
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ParsedCallback:
    events: Sequence[Event]
    dedupe_key: str | None
    """Identical callbacks share it; a second one within `DEDUPE_WINDOW` records nothing new."""


class ProviderSettings(Protocol):
    """What a provider reads of the service's settings (`config/settings.py` gives it). Its own
    settings come through `provider_setting(self.name, …)`, as django-anymail's
    `get_anymail_setting(name, esp_name=…)`: `WEBHOOK_APP_<PROVIDER>_<NAME>`, else
    `<provider>_<name>` in the config file, else the default."""

    @property
    def public_url(self) -> str | None: ...

    @property
    def request_timeout(self) -> float: ...

    @property
    def data_dir(self) -> str: ...

    @property
    def lease_seconds(self) -> float: ...

    @property
    def dedupe_window(self) -> float: ...

    @property
    def max_tracked_operations(self) -> int: ...

    def callback_tokens(self, provider: str) -> tuple[str, ...]: ...

    def provider_setting(
        self, provider: str, name: str, *, kind: str = "str", default: Any = None
    ) -> Any: ...


class Provider:
    """Base class for providers; subclasses set `name` and implement what they offer."""

    name: ClassVar[str] = ""
    """The path segment in `/hooks/<name>/<token>` and the `provider` of its events."""
    title: ClassVar[str] = ""
    """How people name it (`My Provider`); the name when empty."""
    sends_callbacks: ClassVar[bool] = True
    """False for a provider that is only polled: `/hooks/<name>/…` is then always 404."""
    samples: ClassVar[tuple[str, ...]] = ()
    """What `webhook-app simulate <name> SAMPLE` can send (`sample_callback`); the first is the one
    suggested to a new user."""
    migrations: ClassVar[str | None] = None
    """The folder of its alembic revisions, for a provider that keeps tables of its own (on
    `webhook_app.store.tables.metadata`); they run with the service's own."""

    def __init__(self, settings: ProviderSettings) -> None:
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

    @classmethod
    def display_name(cls) -> str:
        return cls.title or cls.name

    @classmethod
    def sample_callback(cls, sample: str, voice_id: str | None = None) -> dict[str, Any]:
        """A realistic callback body for `simulate`, shaped like the provider's documented ones."""
        raise NotImplementedError

    @classmethod
    def sample_event(cls, event_type: EventType, voice_id: str) -> Event | None:
        """A realistic event of `event_type` for `routes check --send-test`, or None to let the
        service make a plain one."""
        return None

    @classmethod
    def openapi(cls) -> OpenAPIFragment:
        """Its part of the OpenAPI document (its callback's body, its admin API)."""
        return OpenAPIFragment()

    # What it adds to the service's reads. `store` is the service's `webhook_app.store.Store`.

    @classmethod
    def stats(cls, store: Any) -> dict[str, Any]:
        """Keys it adds to `GET /api/stats` (described in `openapi().stats`)."""
        return {}

    @classmethod
    def attention(cls, store: Any) -> dict[str, Any]:
        """Keys it adds to what needs attention now (described in `openapi().attention`)."""
        return {}

    @classmethod
    def process_metrics(cls) -> list[Any]:
        """Prometheus counters its jobs count into, summed across a host's processes like the
        service's own."""
        return []

    @classmethod
    def gauges(cls, store: Any) -> list[Any]:
        """Prometheus metric families read from the database when `/metrics` is scraped."""
        return []

    @classmethod
    def prunable(cls) -> list[Any]:
        """Its rows `prune` removes (`webhook_app.store.retention.PrunableRows`)."""
        return []

    @classmethod
    def panel(cls, place: str, store: Any, context: Mapping[str, Any]) -> Panel | None:
        """What it draws on a core page: `place` is `attention` (a card on the dashboard, with
        `attention` in `context`), `dashboard` (below the cards, with `stats`) or `voice` (a voice's
        page, with `provider` and `voice_id`)."""
        return None

    def blueprints(self) -> list[Blueprint]:
        """Flask blueprints this provider adds to the web app (e.g. its admin API)."""
        return []

    def jobs(self, context: JobContext) -> list[Job]:
        """Periodic work this provider adds to every worker process (e.g. polling)."""
        return []
