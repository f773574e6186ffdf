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
    "Delivered": "webhook_app.plugins.handler",
    "Event": "webhook_app.model.events",
    "EventData": "webhook_app.model.events",
    "EventType": "webhook_app.model.events",
    "Handler": "webhook_app.plugins.handler",
    "InvalidCallback": "webhook_app.plugins.provider",
    "Job": "webhook_app.plugins.job",
    "JobContext": "webhook_app.plugins.job",
    "NewReceipt": "webhook_app.model.receipts",
    "ParsedCallback": "webhook_app.plugins.provider",
    "Provider": "webhook_app.plugins.provider",
    "PermanentError": "webhook_app.errors",
    "ProviderError": "webhook_app.model.events",
    "Recording": "webhook_app.model.events",
    "RetryableError": "webhook_app.errors",
    "create_app": "webhook_app.web.app",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'webhook_app' has no attribute {name!r}")
