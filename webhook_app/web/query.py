"""Query strings read through a marshmallow schema, with the same `400` for every listing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, request
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from webhook_app.web.errors import api_error

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
    this service did not hand it out). Raises ValidationError naming each field at fault."""
    args: dict[str, Any] = schema().load(request.args)
    if cursor is not None and "cursor" in args:
        try:
            cursor(args["cursor"], args)
        except ValueError as exc:
            raise ValidationError({"cursor": [str(exc)]}) from None
    return args


def invalid_query(exc: ValidationError) -> Response:
    return api_error(400, "invalid_query", "Some query parameters are not valid.", exc.messages)
