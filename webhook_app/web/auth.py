"""Who calls the admin API, and whether their key's role allows what they ask."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, request

from webhook_app.model.states import Role
from webhook_app.services import services
from webhook_app.usecases.keys import Principal
from webhook_app.web.apidoc import ROLE_ATTRIBUTE
from webhook_app.web.errors import api_error

F = TypeVar("F", bound=Callable[..., Any])


def require(role: Role) -> Callable[[F], F]:
    """401 unless `Authorization: Bearer <key>` names a live key; 403 unless its role is at
    least `role`. With no keys at all, every request is a 401."""

    def guard(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            ctx = services()
            principal = None
            if scheme.lower() == "bearer" and token.strip():
                principal = ctx.keyring.identify(token.strip(), now=ctx.clock.now())
            if principal is None:
                response = api_error(
                    401,
                    "unauthorized",
                    "Send 'Authorization: Bearer <key>' (a key from 'webhook-app keys create', "
                    "or one of WEBHOOK_APP_ADMIN_TOKENS).",
                )
                response.headers["WWW-Authenticate"] = 'Bearer realm="webhook-app"'
                return response
            if not principal.role.allows(role):
                return api_error(403, "forbidden", f"needs the {role} role")
            g.principal = principal
            return view(*args, **kwargs)

        setattr(wrapper, ROLE_ATTRIBUTE, role)  # the OpenAPI document reads it
        return wrapper  # type: ignore[return-value]

    return guard


def current_actor() -> str:
    """Who is asking, as the audit log keeps it: the name of this API request's key, or of the
    key the signed-in page's session is bound to."""
    principal: Principal = g.principal
    return principal.name
