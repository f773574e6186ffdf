"""The `forward` handler: POST the CloudEvent (structured mode) to a URL, signed per Standard Webhooks.

Route options: `url`, `secret` (`whsec_…`, base64 key), `timeout_seconds` (10),
`allow_private_targets` (false). Headers: `webhook-id` (the event id, stable across
retries so the receiver can deduplicate), `webhook-timestamp` (Unix seconds) and
`webhook-signature` (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body`).

2xx is success, 410 Gone ends the delivery, anything else is retried. Redirects are not
followed. Only globally routable targets are reached unless allowed: the address is
checked on the connected socket before anything is sent (webhook_app/outbound.py), and a
literal address that is not public is refused when the config is loaded, so a route
cannot be pointed at the service's own network by mistake (or by a hostile config).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import time
from typing import Any
from urllib.parse import urlsplit

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from handlers.http import new_client, outcome, post
from webhook_app.model.events import Event
from webhook_app.outbound import is_global_address
from webhook_app.plugins.handler import Delivered, Handler

CONTENT_TYPE = "application/cloudevents+json"


class ForwardHandler(Handler):
    name = "forward"

    class Options(Schema):
        url = fields.Url(required=True, require_tld=False, schemes={"https", "http"})
        secret = fields.String(required=True, metadata={"secret": True})
        timeout_seconds = fields.Float(load_default=10.0, validate=validate.Range(min=0.1, max=120))
        allow_private_targets = fields.Boolean(load_default=False)

        @validates("secret")
        def secret_is_a_whsec_key(self, value: str, **_: Any) -> None:
            signing_key(value)

        @validates_schema
        def literal_address_is_public(self, data: dict[str, Any], **_: Any) -> None:
            host = urlsplit(data["url"]).hostname or ""
            try:
                address = ipaddress.ip_address(host)
            except ValueError:
                return  # a name: checked on the connected socket, at each delivery
            if not data.get("allow_private_targets") and not is_global_address(address):
                raise ValidationError(
                    f"{host} is not a public address (private, shared, loopback, link-local or "
                    "reserved, or an IPv6 form of one); set allow_private_targets = true if that is intended",
                    "url",
                )

    def __init__(self, options: Any) -> None:
        super().__init__(options)
        self.key = signing_key(self.options["secret"])
        allowed = None if self.options["allow_private_targets"] else is_global_address
        self.client = new_client(self.options["timeout_seconds"], address_allowed=allowed)

    def handle(self, event: Event) -> Delivered:
        url = self.options["url"]
        body = json.dumps(event.to_cloudevent(), separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": CONTENT_TYPE,
            "webhook-id": event.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self.key, event.id, timestamp, body),
        }
        response = post(self.client, url, content=body, headers=headers)
        return outcome(response, refused={410}, refusal="target is gone", failure="target answered")

    def close(self) -> None:
        self.client.close()


def signing_key(secret: str) -> bytes:
    if not secret.startswith("whsec_"):
        raise ValidationError("must start with 'whsec_' followed by a base64 key")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("the part after 'whsec_' is not valid base64") from None
    if len(key) < 16:
        raise ValidationError("the key must be at least 16 bytes (24 base64 characters)")
    return key


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()
