"""Each view's OpenAPI operation, written beside the view (`@operation`) and gathered by
`web/openapi.py` from the routes the app serves, so the document cannot list a path the app
lacks or miss one it has."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

ADMIN: list[dict[str, list[str]]] = [{"admin": []}]
ADMIN_ERRORS = {"r401": "No or wrong admin token", "r503": "The database is unavailable"}
JSON = "application/json"
OPERATION_ATTRIBUTE = "openapi_operation"
ADMIN_ONLY_ATTRIBUTE = "admin_only"
"""Set by `web/auth.require_admin` on the views it guards."""


def operation(
    *,
    summary: str,
    responses: dict[str, Any],
    description: str | None = None,
    parameters: list[dict[str, Any]] | None = None,
    request_body: dict[str, Any] | None = None,
) -> Callable[[F], F]:
    """The view's operation; query parameters may name the marshmallow schema the view loads
    them with. A view behind `require_admin` is documented as such where the document is made
    (`admin_operation`), from the guard itself."""
    document: dict[str, Any] = {"summary": summary}
    if description:
        document["description"] = description
    if parameters:
        document["parameters"] = parameters
    if request_body:
        document["requestBody"] = request_body
    document["responses"] = responses

    def mark(view: F) -> F:
        setattr(view, OPERATION_ATTRIBUTE, document)
        return view

    return mark


def admin_operation(document: dict[str, Any]) -> dict[str, Any]:
    """An admin view's operation: the bearer token it needs, and its 401 and 503 answers."""
    return {**document, "security": ADMIN, "responses": {**document["responses"], **answers(**ADMIN_ERRORS)}}


def answers(**codes: Any) -> dict[str, Any]:
    """Responses: a schema's name (one word) for a JSON body, or a description for an error."""
    out: dict[str, Any] = {}
    for code, what in codes.items():
        status = code.removeprefix("r")
        schema = what if " " not in what else "Error"
        out[status] = {"description": what, "content": {JSON: {"schema": schema}}}
    return out


def path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "in": "path",
        "name": name,
        "required": True,
        "schema": {"type": "string"},
        "description": description,
    }
