"""Bearer-token checks for the admin API."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import request

from webhook_app.services import services
from webhook_app.tokens import token_matches
from webhook_app.web.apidoc import ADMIN_ONLY_ATTRIBUTE
from webhook_app.web.errors import api_error

F = TypeVar("F", bound=Callable[..., Any])


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

    setattr(wrapper, ADMIN_ONLY_ATTRIBUTE, True)  # the OpenAPI document reads it
    return wrapper  # type: ignore[return-value]
