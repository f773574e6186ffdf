"""Provider callbacks: `POST /hooks/<provider>/<token>`.

Order matters: authenticate (404, nothing stored), bound the body (413), then every
authenticated request is kept: accepted with its events, or rejected with the reason.

Callbacks are most of the traffic, so their path is plain WSGI in front of Flask
(`CallbackEndpoint`): for them, Flask's request machinery (contexts, routing, hooks, the
response object) cost about half as much as the view's own work (benchmarks/RESULTS.md).
Every other path goes on to Flask. The answers are the same as the rest of the service's: JSON,
`{"error": {...}}` for a refusal, the security headers, 503 for an outage and 500, logged,
for anything unexpected.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from http.client import responses
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask
from werkzeug.datastructures import EnvironHeaders
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from webhook_app.model import signals
from webhook_app.model.text import storable
from webhook_app.plugins.provider import InvalidCallback, Provider
from webhook_app.services import EXTENSION_KEY, Services
from webhook_app.store import NewReceipt
from webhook_app.usecases.ingest import parse_callback
from webhook_app.web import schemas
from webhook_app.web.apidoc import JSON, answers, path_param
from webhook_app.web.body import read_body
from webhook_app.web.errors import (
    DATABASE_RETRY_AFTER_SECONDS,
    DATABASE_UNAVAILABLE,
    INTERNAL_ERROR,
    UNSTORABLE_REQUEST_TEXT,
    database_lost,
    error_document,
    too_large_message,
)
from webhook_app.web.pages import SECURITY_HEADERS

logger = logging.getLogger(__name__)

ONLY_POST = MethodNotAllowed.description  # werkzeug's words, as Flask answered

PATH = "/hooks/<provider_name>/<token>"  # served here, not by a Flask route
ENDPOINT = "hooks.callback"  # the `endpoint` label of a 5xx in the metrics
UNKNOWN_PROVIDER = "unknown"  # the metrics label for a path naming no installed provider

KEPT_HEADERS = frozenset(
    {"content-type", "content-length", "content-encoding", "transfer-encoding", "user-agent", "accept",
     "host", "x-forwarded-for", "x-forwarded-proto", "x-real-ip", "forwarded", "x-request-id", "traceparent"}
)  # fmt: skip
"""Headers a receipt keeps, to tell what sent a callback and how. An allow-list: a deny-list
let credentials through under names no one thought of (`X-Api-Auth`, `Proxy-Authorization`…)."""

_ONLY_JSON = "Send the callback as application/json."
JUDGED = "webhook_app.judged_before_body"
"""The WSGI environ key of `_refusal_before_body`'s answer, kept by `body_allowance`."""

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Answer = tuple[int, dict[str, Any], dict[str, str]]
"""A status, its JSON document and any headers of its own."""


CALLBACK_PATH = "/hooks/{provider_name}/{token}"
CALLBACK_OPERATION: dict[str, Any] = {
    "summary": "Receive a provider's callback",
    "description": "Stored before it is acknowledged; the path's token is the caller's credential. "
    "The body is the provider's own (one of the schemas below, by provider).",
    "parameters": [
        path_param("provider_name", "An installed provider that calls back"),
        path_param("token", "One of WEBHOOK_APP_<PROVIDER>_TOKENS"),
    ],
    "requestBody": {"required": True, "content": {JSON: {"schema": {}}}},
    "responses": answers(
        r200="IngestResult",
        r202="IngestResult",
        r400="Not JSON",
        r404="No callback URL with this token",
        r413="Body over MAX_BODY_BYTES",
        r415="Not application/json",
        r422="Not a valid callback (kept as a rejected receipt)",
        r503="The database is unavailable; retry",
    ),
}
"""The endpoint's OpenAPI operation (it runs ahead of Flask, so it is named here rather than on a
view); `web/openapi.py` fills in the providers' names and callback schemas."""


class CallbackEndpoint:
    """The WSGI app for `/hooks/<provider>/<token>`; any other path goes to `fallback` (Flask)."""

    def __init__(self, app: Flask, fallback: WSGIApp) -> None:
        self.app = app
        self.fallback = fallback

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path, segments = _callback_path(environ)
        if segments is None:
            return self.fallback(environ, start_response)
        services: Services = self.app.extensions[EXTENSION_KEY]
        status, document, headers = self.answer(services, environ, path, *segments)
        if status >= 500:
            signals.server_error.send(self.app, status=status, endpoint=ENDPOINT)
        body = json.dumps(document, separators=(",", ":")).encode() + b"\n"
        start_response(
            f"{status} {responses.get(status, 'Unknown')}",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                *headers.items(),
                *SECURITY_HEADERS.items(),
            ],
        )
        return [body]

    def serves(self, environ: dict[str, Any]) -> bool:
        """Whether the request is a callback (else it goes on to Flask)."""
        return _callback_path(environ)[1] is not None

    def body_allowance(self, environ: dict[str, Any]) -> int | None:
        """How many body bytes the web worker may read for this request before calling the app,
        judged from its head alone; None when the app answers it unread (a wrong token, a
        declared length over the limit), so that nothing is read before the token is checked."""
        path, segments = _callback_path(environ)
        if segments is None:
            return int(self.app.config["MAX_CONTENT_LENGTH"])
        services: Services = self.app.extensions[EXTENSION_KEY]
        try:
            refused = _refusal_before_body(services, environ, path, *segments)
        except Exception:  # the app will meet the same fault and answer it
            return None
        environ[JUDGED] = refused  # the app answers by it: the token is checked once per request
        return None if refused is not None else services.settings.max_body_bytes

    def answer(
        self, services: Services, environ: dict[str, Any], path: str, provider_name: str, token: str
    ) -> Answer:
        """The answer to one request on a callback path; the store's outages are 503, and
        anything unexpected a logged 500."""
        try:
            return self._callback(services, environ, path, provider_name, token)
        except Exception as exc:
            if not database_lost(exc):
                logger.error("unhandled error", exc_info=exc)
                return _error(500, "internal_error", INTERNAL_ERROR)
            logger.error("database error: %s", exc)
            retry_after = {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)}
            return _error(503, "database_unavailable", DATABASE_UNAVAILABLE, headers=retry_after)

    def _callback(
        self, ctx: Services, environ: dict[str, Any], path: str, provider_name: str, token: str
    ) -> Answer:
        if JUDGED in environ:  # judged by the web worker before it read the body
            early = environ[JUDGED]
        else:
            early = _refusal_before_body(ctx, environ, path, provider_name, token)
        if early is not None:
            if early[0] in (404, 413):
                outcome = "not_found" if early[0] == 404 else "too_large"
                provider_label = provider_name if provider_name in ctx.providers else UNKNOWN_PROVIDER
                signals.callback_received.send(ctx.store, provider=provider_label, outcome=outcome)
            return early
        provider = ctx.providers[provider_name]
        headers = dict(EnvironHeaders(environ).items())  # as werkzeug spells them: `User-Agent`
        lowered = {name.lower(): value for name, value in headers.items()}
        try:
            body = read_body(environ, ctx.settings.max_body_bytes)
        except HTTPException as refused:  # 413 over the limit; 400 for a body cut short
            if refused.code == 413:
                signals.callback_received.send(ctx.store, provider=provider.name, outcome="too_large")
                return _error(413, "payload_too_large", too_large_message(ctx.settings.max_body_bytes))
            return _error(refused.code or 400, "bad_request", refused.description or refused.name)
        if not provider.verify(lowered, body):
            signals.callback_received.send(ctx.store, provider=provider.name, outcome="not_found")
            return _error(401, "invalid_signature", "The callback's signature does not match its body.")
        receipt = NewReceipt(
            provider=provider.name,
            received_at=ctx.clock.now(),
            body=body,
            headers={name: value for name, value in headers.items() if name.lower() in KEPT_HEADERS},
            content_type=environ.get("CONTENT_TYPE") or None,
        )
        try:
            if not _is_json(receipt.content_type):
                raise InvalidCallback(_ONLY_JSON, status=415, code="unsupported_media_type")
            parsed = parse_callback(provider, body, receipt_id=receipt.id, received_at=receipt.received_at)
        except InvalidCallback as invalid:
            return _rejected(ctx, provider, receipt, invalid)
        result = ctx.ingest.record(receipt, parsed.events, dedupe_key=parsed.dedupe_key)
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
        return 200 if result.duplicate else 202, schemas.dump(schemas.IngestResult, result), {}


def _rejected(ctx: Services, provider: Provider, receipt: NewReceipt, invalid: InvalidCallback) -> Answer:
    """Keep the receipt as rejected, with the reason, and say so."""
    # A provider's details are its own: what JSON cannot encode is kept as its text, so that
    # neither the receipt's write nor the answer fails on it.
    details = json.loads(json.dumps(invalid.details, default=str))
    reason = {"code": invalid.code, "message": invalid.message, "details": details}
    ctx.store.ingest.record_rejected(receipt, reason, keep=ctx.settings.max_rejected_receipts)
    signals.callback_received.send(ctx.store, provider=provider.name, outcome="rejected")
    logger.warning(
        "rejected a %s callback (%s): %s",
        provider.name,
        invalid.code,
        invalid.message,
        extra={"receipt_id": receipt.id},
    )
    return _error(
        invalid.status, invalid.code, invalid.message, details, headers={"X-Receipt-Id": receipt.id}
    )


def _callback_path(environ: dict[str, Any]) -> tuple[str, tuple[str, str] | None]:
    """The request's path, and its provider and token when it is a callback path."""
    # WSGI hands the path over as latin-1; it was sent as UTF-8 (as werkzeug decodes it).
    path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
    segments = path.split("/")
    if len(segments) != 4 or segments[:2] != ["", "hooks"] or not all(segments[2:]):
        return path, None
    return path, (segments[2], segments[3])


def _refusal_before_body(
    ctx: Services, environ: dict[str, Any], path: str, provider_name: str, token: str
) -> Answer | None:
    """What a callback is answered from its head alone: unstorable text (400), a method other
    than POST (405), no provider or a wrong token (404), a declared length over the limit (413)."""
    if not _storable_request_text(path, environ.get("QUERY_STRING", "")):
        return _error(400, "invalid_text", UNSTORABLE_REQUEST_TEXT)
    if environ.get("REQUEST_METHOD") != "POST":
        return _error(405, "method_not_allowed", ONLY_POST, headers={"Allow": "POST"})
    provider = ctx.providers.get(provider_name)
    lowered = {name.lower(): value for name, value in EnvironHeaders(environ).items()}
    if provider is None or not provider.sends_callbacks or not provider.authenticate(token, lowered):
        return _error(404, "not_found", "No callback URL matches this path.")
    declared = environ.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > ctx.settings.max_body_bytes:
        return _error(413, "payload_too_large", too_large_message(ctx.settings.max_body_bytes))
    return None


def _error(
    status: int, code: str, message: str, details: object = None, *, headers: dict[str, str] | None = None
) -> Answer:
    return status, error_document(code, message, details), headers or {}


def _storable_request_text(path: str, query: str) -> bool:
    """A NUL or an unpaired surrogate in the path or query is refused (400), as on every path."""
    pairs = parse_qsl(query, keep_blank_values=True) if query else []
    return storable(path) and all(storable(key) and storable(value) for key, value in pairs)


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True  # some senders omit it; the body decides
    mimetype = content_type.split(";", 1)[0].strip().lower()
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )
