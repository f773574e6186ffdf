"""Every error answers `{"error": {"code", "message", "details"}}`, never an HTML page or a traceback."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from webhook_app.errors import WebhookAppError
from webhook_app.model import signals
from webhook_app.model.text import storable

logger = logging.getLogger(__name__)

DATABASE_RETRY_AFTER_SECONDS = 5


DATABASE_UNAVAILABLE = "The event store is unavailable; nothing was recorded. Retry later."
INTERNAL_ERROR = "An unexpected error occurred; it has been logged."
UNSTORABLE_REQUEST_TEXT = "The path or query holds a NUL character or an unpaired surrogate."


def error_document(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def api_error(status: int, code: str, message: str, details: Any = None) -> Response:
    response = jsonify(error_document(code, message, details))
    response.status_code = status
    return response


def too_large_message(limit: object) -> str:
    return f"The request body is larger than the limit of {limit} bytes."


def database_lost(exc: Exception) -> bool:
    """Whether a database error is an outage (503, retry later) rather than a bug of ours (500)."""
    return isinstance(exc, OperationalError | InterfaceError | PoolTimeout) or bool(
        getattr(exc, "connection_invalidated", False)
    )


_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable_entity",
}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        message = exc.description or exc.name
        if status == 413:
            message = too_large_message(app.config.get("MAX_CONTENT_LENGTH"))
        response = api_error(status, _CODES.get(status, exc.name.lower().replace(" ", "_")), message)
        if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.after_request
    def _announce_server_errors(response: Response) -> Response:
        if response.status_code >= 500:
            signals.server_error.send(
                app, status=response.status_code, endpoint=request.endpoint or "unknown"
            )
        return response

    @app.before_request
    def _refuse_unstorable_request_text() -> Response | None:
        """A NUL or an unpaired surrogate in the path or the query would reach a query as text
        no database takes (PostgreSQL refuses NUL): answer 400 here, the same on both."""
        texts = [request.path, *request.args.keys(), *request.args.values()]
        if all(storable(text) for text in texts):
            return None
        return api_error(400, "invalid_text", UNSTORABLE_REQUEST_TEXT)

    @app.errorhandler(WebhookAppError)
    def _known_error(exc: WebhookAppError) -> Response:
        """Every error a request can cause, answered as it says (its status, code and details)."""
        if exc.status >= 500:
            return _unexpected(exc)
        return api_error(exc.status, exc.code, str(exc), exc.details)

    @app.errorhandler(PoolTimeout)
    @app.errorhandler(DBAPIError)
    def _database_error(exc: Exception) -> Response:
        if not database_lost(exc):  # the database answered: a bug of ours, not an outage to retry
            return _unexpected(exc)
        logger.error("database error: %s", exc)
        response = api_error(503, "database_unavailable", DATABASE_UNAVAILABLE)
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        logger.error("unhandled error", exc_info=exc)
        return api_error(500, "internal_error", INTERNAL_ERROR)
