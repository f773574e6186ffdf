"""The `log` handler: one log line per event; the default route uses it, so a new install shows the flow."""

from __future__ import annotations

import logging

from webhook_app.events import Event
from webhook_app.handler import Handler

logger = logging.getLogger("webhook_app.handlers.log")


class LogHandler(Handler):
    name = "log"

    def handle(self, event: Event) -> None:
        logger.info(
            "%s%s %s voice %s status %s%s",
            "test " if event.test else "",
            event.type,
            event.data.provider,
            event.data.voice_id,
            event.data.status,
            f" ({len(event.data.recordings)} recordings flagged)" if event.data.recordings else "",
            extra={"event_id": event.id, "receipt_id": event.receipt_id},
        )
