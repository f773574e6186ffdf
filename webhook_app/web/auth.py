"""Bearer-token checks for the admin API."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, request, session

from webhook_app.services import services
from webhook_app.tokens import matching_token
from webhook_app.web.apidoc import ADMIN_ONLY_ATTRIBUTE
from webhook_app.web.errors import api_error

F = TypeVar("F", bound=Callable[..., Any])


def require_admin(view: F) -> F:
    """401 unless `Authorization: Bearer <admin token>`; with no admin tokens configured, always 401."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        index = matching_token(token.strip(), services().settings.admin_tokens)
        if scheme.lower() != "bearer" or index is None:
            response = api_error(
                401, "unauthorized", "Send 'Authorization: Bearer <admin token>' (WEBHOOK_APP_ADMIN_TOKENS)."
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="webhook-app"'
            return response
        g.actor = env_key_name(index)
        return view(*args, **kwargs)

    setattr(wrapper, ADMIN_ONLY_ATTRIBUTE, True)  # the OpenAPI document reads it
    return wrapper  # type: ignore[return-value]


def env_key_name(index: int) -> str:
    """`WEBHOOK_APP_ADMIN_TOKENS` entries are named `env-1`, `env-2`, … in the record."""
    return f"env-{index + 1}"


def current_actor() -> str:
    """Who is asking: the admin key of this API request, or of the signed-in page's session."""
    return str(g.get("actor") or session.get("actor") or "admin")
