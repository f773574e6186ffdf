"""Provider callbacks: `POST /hooks/<provider>/<token>` (Resemble's is `/hooks/resemble/<token>`).

Order matters: authenticate (404, nothing stored), bound the body (413), then every
authenticated request is kept: accepted with its events, or rejected with the reason.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Blueprint, Response, request

from webhook_app import signals
from webhook_app.api import schemas
from webhook_app.api.body import read_body
from webhook_app.api.errors import api_error
from webhook_app.api.schemas import respond
from webhook_app.ingest import parse_callback, record_events
from webhook_app.provider import InvalidCallback
from webhook_app.services import services
from webhook_app.store import NewReceipt

bp = Blueprint("hooks", __name__)
logger = logging.getLogger(__name__)

UNKNOWN_PROVIDER = "unknown"  # the metrics label for a path naming no installed provider

KEPT_HEADERS = frozenset(
    {"content-type", "content-length", "content-encoding", "transfer-encoding", "user-agent", "accept",
     "host", "x-forwarded-for", "x-forwarded-proto", "x-real-ip", "forwarded", "x-request-id", "traceparent"}
)  # fmt: skip
"""Headers a receipt keeps, to tell what sent a callback and how. An allow-list: a deny-list
let credentials through under names no one thought of (`X-Api-Auth`, `Proxy-Authorization`…)."""


def kept_headers() -> dict[str, str]:
    return {name: value for name, value in request.headers.items() if name.lower() in KEPT_HEADERS}


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True  # some senders omit it; the body decides
    mimetype = content_type.split(";", 1)[0].strip().lower()
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def provider_label(name: str) -> str:
    """The provider's name when it is installed, else `unknown`: a path never makes a new label."""
    return name if name in services().providers else UNKNOWN_PROVIDER


@bp.post("/hooks/<provider_name>/<token>")
def callback(provider_name: str, token: str) -> Response:
    ctx = services()
    provider = ctx.providers.get(provider_name)
    headers = {name.lower(): value for name, value in request.headers.items()}
    if provider is None or not provider.sends_callbacks or not provider.authenticate(token, headers):
        signals.callback_received.send(ctx.store, provider=provider_label(provider_name), outcome="not_found")
        return api_error(404, "not_found", "No callback URL matches this path.")
    body = read_body(ctx.settings.max_body_bytes)  # over the limit raises 413
    if not provider.verify(headers, body):
        signals.callback_received.send(ctx.store, provider=provider.name, outcome="not_found")
        return api_error(401, "invalid_signature", "The callback's signature does not match its body.")
    receipt = NewReceipt(
        provider=provider.name,
        received_at=ctx.clock.now(),
        body=body,
        headers=kept_headers(),
        content_type=request.content_type,
    )

    def reject(status: int, code: str, message: str, details: object = None) -> Response:
        ctx.store.record_rejected(
            receipt,
            {"code": code, "message": message, "details": details},
            keep=ctx.settings.max_rejected_receipts,
        )
        signals.callback_received.send(ctx.store, provider=provider.name, outcome="rejected")
        logger.warning(
            "rejected a %s callback (%s): %s", provider.name, code, message, extra={"receipt_id": receipt.id}
        )
        response = api_error(status, code, message, details)
        response.headers["X-Receipt-Id"] = receipt.id
        return response

    if not _is_json(request.content_type):
        return reject(415, "unsupported_media_type", "Send the callback as application/json.")
    try:
        parsed = parse_callback(provider, body, receipt_id=receipt.id, received_at=receipt.received_at)
    except InvalidCallback as invalid:
        return reject(invalid.status, invalid.code, invalid.message, invalid.details)
    result = record_events(
        ctx.store,
        ctx.settings.routes,
        receipt,
        parsed.events,
        dedupe_key=parsed.dedupe_key,
        dedupe_window=timedelta(seconds=ctx.settings.dedupe_window),
    )
    outcome = "duplicate" if result.duplicate else "accepted"
    signals.callback_received.send(ctx.store, provider=provider.name, outcome=outcome)
    for event in parsed.events:
        logger.info(
            "%s %s for voice %s",
            "duplicate of" if result.duplicate else "recorded",
            event.type,
            event.subject,
            extra={
                "receipt_id": result.receipt_id,
                "event_id": result.event_ids[0] if result.duplicate else event.id,
            },
        )
    return respond(schemas.IngestResult, result, 200 if result.duplicate else 202)
