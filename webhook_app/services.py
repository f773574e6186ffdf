"""What the web app and the worker share, built once from settings and passed down."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

from flask import current_app

from webhook_app.config.plugins import load_providers
from webhook_app.config.settings import Settings
from webhook_app.model.clock import Clock, SystemClock
from webhook_app.plugins.provider import Provider
from webhook_app.store import Store
from webhook_app.usecases.ingest import Ingest
from webhook_app.usecases.keys import KeyRing
from webhook_app.usecases.route_book import LiveRoutes, RouteBook, open_route_book

EXTENSION_KEY = "webhook_app"


@dataclass
class Services:
    settings: Settings
    store: Store
    clock: Clock
    providers: dict[str, Provider]

    @cached_property
    def book(self) -> RouteBook:
        return open_route_book(self.store, self.settings)

    @cached_property
    def routes(self) -> LiveRoutes:
        """The routes in use: the database's, read again when they change."""
        return LiveRoutes(self.book)

    @cached_property
    def keyring(self) -> KeyRing:
        """The keys this process recognises, named and from the environment."""
        return KeyRing(self.store, self.settings.admin_tokens)

    @cached_property
    def ingest(self) -> Ingest:
        """The one way in, with the routes in use."""
        return Ingest(
            self.store,
            lambda: self.routes.at_hand().routes,
            dedupe_window=timedelta(seconds=self.settings.dedupe_window),
            clock=self.clock,
        )

    @property
    def provider_classes(self) -> list[type[Provider]]:
        return [type(provider) for provider in self.providers.values()]

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock | None = None) -> Services:
        return cls(
            settings=settings,
            store=Store.from_settings(settings),
            clock=clock or SystemClock(),
            providers=load_providers(settings),
        )


def services() -> Services:
    """The services of the running Flask app."""
    return current_app.extensions[EXTENSION_KEY]
