"""What the web app and the worker share, built once from settings and passed down."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from webhook_app.clock import Clock, SystemClock
from webhook_app.config import Settings
from webhook_app.provider import Provider
from webhook_app.registry import load_providers
from webhook_app.store import Store

EXTENSION_KEY = "webhook_app"


@dataclass
class Services:
    settings: Settings
    store: Store
    clock: Clock
    providers: dict[str, Provider]

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
