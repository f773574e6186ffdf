"""Webhook receiver and event processor for voice-cloning providers.

`create_app()` builds the Flask application; handlers subclass `Handler` and raise
`RetryableError` or `PermanentError`; providers subclass `Provider`. Each name is
imported when first asked for, so a command line or a plugin loads only what it uses (no
Flask, SQLAlchemy or psycopg for `Handler`, `Provider` and `Event`).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "ConfigError": "webhook_app.errors",
    "Delivered": "webhook_app.handler",
    "Event": "webhook_app.events",
    "EventData": "webhook_app.events",
    "EventType": "webhook_app.events",
    "Handler": "webhook_app.handler",
    "InvalidCallback": "webhook_app.provider",
    "ParsedCallback": "webhook_app.provider",
    "Provider": "webhook_app.provider",
    "PermanentError": "webhook_app.errors",
    "ProviderError": "webhook_app.events",
    "Recording": "webhook_app.events",
    "RetryableError": "webhook_app.errors",
    "create_app": "webhook_app.app",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'webhook_app' has no attribute {name!r}")
