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


def operation(document: dict[str, Any]) -> Callable[[F], F]:
    """The view's operation (summary, security, parameters, requestBody, responses); query
    parameters may name the marshmallow schema the view loads them with."""

    def mark(view: F) -> F:
        setattr(view, OPERATION_ATTRIBUTE, document)
        return view

    return mark


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
