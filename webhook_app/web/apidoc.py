"""Each view's OpenAPI operation, written beside the view (`@operation`) and gathered by
`web/openapi.py` from the routes the app serves, so the document cannot list a path the app
lacks or miss one it has."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

KEY_ERRORS = {
    "r401": "No key, or one that is not live",
    "r403": "The key's role is below the one this needs",
    "r503": "The database is unavailable",
}
JSON = "application/json"
OPERATION_ATTRIBUTE = "openapi_operation"
ROLE_ATTRIBUTE = "required_role"
"""Set by `web/auth.require` on the views it guards: the role they need."""


def operation(
    *,
    summary: str,
    responses: dict[str, Any],
    description: str | None = None,
    parameters: list[dict[str, Any]] | None = None,
    request_body: dict[str, Any] | None = None,
) -> Callable[[F], F]:
    """The view's operation; query parameters may name the marshmallow schema the view loads
    them with. A view behind `require` is documented as such where the document is made
    (`guarded_operation`), from the guard itself."""
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


def guarded_operation(document: dict[str, Any], role: str) -> dict[str, Any]:
    """A guarded view's operation: the bearer key it needs, the role, and its 401, 403 and 503 answers."""
    needs = f"Needs a key with the `{role}` role (or a higher one)."
    description = f"{document['description']}\n\n{needs}" if "description" in document else needs
    return {
        **document,
        "description": description,
        "security": [{"key": []}],
        "responses": {**document["responses"], **answers(**KEY_ERRORS)},
    }


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
