"""Provider callbacks: `POST /hooks/resemble/<token>`.

Order matters: authenticate (404, nothing stored), bound the body (413), then every
authenticated request is kept: accepted with its events, or rejected with the reason.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from flask import Blueprint, Response, request
from marshmallow import ValidationError

from webhook_app import signals
from webhook_app.api import schemas
from webhook_app.api.auth import token_matches
from webhook_app.api.body import read_body, unstorable_text
from webhook_app.api.errors import api_error
from webhook_app.api.schemas import respond
from webhook_app.ingest import record_events
from webhook_app.providers import resemble
from webhook_app.services import services
from webhook_app.store import NewReceipt

bp = Blueprint("hooks", __name__)
logger = logging.getLogger(__name__)

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


@bp.post("/hooks/resemble/<token>")
def resemble_callback(token: str) -> Response:
    ctx = services()
    if not token_matches(token, ctx.settings.resemble_tokens):
        signals.callback_received.send(ctx.store, provider=resemble.PROVIDER, outcome="not_found")
        return api_error(404, "not_found", "No callback URL matches this path.")
    body = read_body(ctx.settings.max_body_bytes)  # over the limit raises 413
    receipt = NewReceipt(
        provider=resemble.PROVIDER,
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
        signals.callback_received.send(ctx.store, provider=resemble.PROVIDER, outcome="rejected")
        logger.warning(
            "rejected a Resemble callback (%s): %s", code, message, extra={"receipt_id": receipt.id}
        )
        response = api_error(status, code, message, details)
        response.headers["X-Receipt-Id"] = receipt.id
        return response

    if not _is_json(request.content_type):
        return reject(415, "unsupported_media_type", "Send the callback as application/json.")
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return reject(400, "invalid_json", f"The body is not valid JSON: {exc}")
    except RecursionError:
        return reject(400, "invalid_json", "The body nests arrays or objects too deeply.")
    unstorable = unstorable_text(body, parsed)
    if unstorable is not None:
        return reject(
            422,
            "invalid_text",
            f"The text at {unstorable} holds a NUL or an unpaired surrogate, which cannot be stored.",
            {"path": unstorable},
        )
    try:
        callback = resemble.validate_callback(parsed)
        dedupe_key = resemble.dedupe_key(parsed)
    except ValidationError as exc:
        return reject(
            422, "invalid_callback", "The callback does not match Resemble's documented shape.", exc.messages
        )
    except RecursionError:
        return reject(400, "invalid_json", "The body nests arrays or objects too deeply.")

    events = resemble.to_events(callback, receipt_id=receipt.id, received_at=receipt.received_at)
    result = record_events(
        ctx.store,
        ctx.settings.routes,
        receipt,
        events,
        dedupe_key=dedupe_key,
        dedupe_window=timedelta(seconds=ctx.settings.dedupe_window),
    )
    outcome = "duplicate" if result.duplicate else "accepted"
    signals.callback_received.send(ctx.store, provider=resemble.PROVIDER, outcome=outcome)
    for event in events:
        logger.info(
            "%s %s for voice %s",
            "duplicate of" if result.duplicate else "recorded",
            event.type,
            event.data.voice_id,
            extra={
                "receipt_id": result.receipt_id,
                "event_id": result.event_ids[0] if result.duplicate else event.id,
            },
        )
    return respond(schemas.IngestResult, result, 200 if result.duplicate else 202)
