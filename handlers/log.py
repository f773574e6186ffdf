"""The `log` handler: one log line per event; the default route uses it, so a new install shows the flow."""

from __future__ import annotations

import logging

from webhook_app.model.events import Event
from webhook_app.plugins.handler import Handler

logger = logging.getLogger("webhook_app.handlers.log")


class LogHandler(Handler):
    name = "log"

    def handle(self, event: Event) -> None:
        recordings = event.voice.recordings if event.voice else ()
        logger.info(
            "%s%s %s %s %s status %s%s",
            "test " if event.test else "",
            event.type,
            event.data.provider,
            "voice" if event.voice else "about",
            event.subject,
            event.status,
            f" ({len(recordings)} recordings flagged)" if recordings else "",
            extra={"event_id": event.id, "receipt_id": event.receipt_id},
        )
