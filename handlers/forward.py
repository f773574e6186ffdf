"""The `forward` handler: POST the CloudEvent (structured mode) to a URL, signed per Standard Webhooks.

Route options: `url`, `secret` (`whsec_…`, base64 key), `timeout_seconds` (10),
`allow_private_targets` (false). Headers: `webhook-id` (the event id, stable across
retries so the receiver can deduplicate), `webhook-timestamp` (Unix seconds) and
`webhook-signature` (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body`).

2xx is success, 410 Gone ends the delivery, anything else is retried. Redirects are not
followed. Private, loopback and link-local targets are refused unless allowed, so a route
cannot be pointed at the service's own network by mistake (or by a hostile config).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from handlers.http import new_client, post, short
from webhook_app.errors import PermanentError, RetryableError
from webhook_app.events import Event
from webhook_app.handler import Handler

CONTENT_TYPE = "application/cloudevents+json"


class ForwardHandler(Handler):
    name = "forward"

    class Options(Schema):
        url = fields.Url(required=True, require_tld=False, schemes={"https", "http"})
        secret = fields.String(required=True)
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
                return  # a name: checked when resolved, at each delivery
            if not data.get("allow_private_targets") and not is_public(address):
                raise ValidationError(
                    f"{host} is a private, loopback or link-local address; "
                    "set allow_private_targets = true if that is intended",
                    "url",
                )

    def __init__(self, options: Any) -> None:
        super().__init__(options)
        self.key = signing_key(self.options["secret"])
        self.client = new_client(self.options["timeout_seconds"])

    def handle(self, event: Event) -> None:
        url = self.options["url"]
        if not self.options["allow_private_targets"]:
            refuse_private_target(urlsplit(url).hostname or "")
        body = json.dumps(event.to_cloudevent(), separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": CONTENT_TYPE,
            "webhook-id": event.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self.key, event.id, timestamp, body),
        }
        response = post(self.client, url, content=body, headers=headers)
        if response.is_success:
            return
        if response.status_code == 410:
            raise PermanentError(f"target answered 410 Gone: {short(response.text)}")
        raise RetryableError(f"target answered {response.status_code} {short(response.text)}")

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


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    )


def refuse_private_target(host: str) -> None:
    """PermanentError if `host` is or resolves to a non-public address."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise RetryableError(f"cannot resolve {host}: {exc}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not is_public(address):
            raise PermanentError(
                f"refused to forward to {host} ({address}): private, loopback or link-local target; "
                "set allow_private_targets = true on the route if that is intended"
            )
