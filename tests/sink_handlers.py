"""Handlers the tests load by dotted path (`tests.sink_handlers:SinkHandler`), as users load their own."""

from __future__ import annotations

from typing import Any

import httpx
from marshmallow import Schema, fields

from webhook_app import Delivered, Event, Handler, PermanentError, RetryableError


class SinkHandler(Handler):
    """POSTs the CloudEvent to `url`; 2xx is success, anything else is retryable."""

    name = "test-sink"

    class Options(Schema):
        url = fields.Url(required=True, require_tld=False)
        timeout_seconds = fields.Float(load_default=30.0)

    def __init__(self, options: Any) -> None:
        super().__init__(options)
        self.client = httpx.Client(timeout=self.options["timeout_seconds"])

    def close(self) -> None:
        self.client.close()

    def handle(self, event: Event) -> Delivered:
        try:
            response = self.client.post(self.options["url"], json=event.to_cloudevent())
        except httpx.HTTPError as exc:
            raise RetryableError(f"sink unreachable: {exc}") from exc
        answered = {"status_code": response.status_code, "response": response.text}
        if response.status_code == 410:
            raise PermanentError("sink says gone", **answered)
        if response.status_code >= 300:
            raise RetryableError(f"sink answered {response.status_code}", **answered)
        return Delivered(**answered)
