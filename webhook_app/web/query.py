"""Query strings read through a marshmallow schema, with the same `400` for every listing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import request
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from webhook_app.errors import InvalidInput
from webhook_app.usecases.ingest import TOO_DEEP

MAX_PAGE = 500


class PageQuerySchema(Schema):
    """What every listing takes: a page size and the previous page's cursor. Unknown names are
    refused: a misspelt filter must not silently match everything."""

    class Meta:
        unknown = RAISE

    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE))
    cursor = fields.String()


def load_query(
    schema: type[Schema], cursor: Callable[[str, dict[str, Any]], object] | None = None
) -> dict[str, Any]:
    """The query string through `schema`; `cursor(text, args)` checks a cursor (ValueError if
    this service did not hand it out). `InvalidInput` (400) names each field at fault."""
    try:
        args: dict[str, Any] = schema().load(request.args)
    except ValidationError as exc:
        raise InvalidInput(INVALID_QUERY, exc.messages) from None
    if cursor is not None and "cursor" in args:
        try:
            cursor(args["cursor"], args)
        except ValueError as exc:
            raise InvalidInput(INVALID_QUERY, {"cursor": [str(exc)]}) from None
    return args


INVALID_QUERY = "Some query parameters are not valid."


def json_object(shape: str = "") -> dict[str, Any]:
    """The request's body as a JSON object; `400 invalid_json` (saying `shape`) for anything else."""
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        raise InvalidInput(TOO_DEEP, code="invalid_json") from None
    if not isinstance(body, dict):
        raise InvalidInput(f"Send a JSON object{': ' + shape if shape else ''}.", code="invalid_json")
    return body
