"""Bearer-token checks for the admin API, and token comparison for callback URLs."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, TypeVar

from flask import request

from webhook_app.api.errors import api_error
from webhook_app.services import services

F = TypeVar("F", bound=Callable[..., Any])


def token_matches(candidate: str, valid: Iterable[str]) -> bool:
    """Constant-time against every valid token, so timing says neither which nor how much matched."""
    given = candidate.encode()
    matched = False
    for token in valid:
        matched |= hmac.compare_digest(given, token.encode())
    return matched


def require_admin(view: F) -> F:
    """401 unless `Authorization: Bearer <admin token>`; with no admin tokens configured, always 401."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token_matches(token.strip(), services().settings.admin_tokens):
            response = api_error(
                401, "unauthorized", "Send 'Authorization: Bearer <admin token>' (WEBHOOK_APP_ADMIN_TOKENS)."
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="webhook-app"'
            return response
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
