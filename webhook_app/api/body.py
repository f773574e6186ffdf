"""A request body read whole and bounded, and a validator for text a database cannot keep."""

from __future__ import annotations

from typing import BinaryIO

from flask import request
from marshmallow import ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from webhook_app.text import storable

READ_CHUNK_BYTES = 64 * 1024


def read_body(limit: int) -> bytes:
    """The whole request body, or `413` when it is longer than `limit`, however it was sent.

    A declared length over the limit is refused before reading (werkzeug); a chunked body
    is read up to one byte past the limit, so one that is too long is refused rather than
    cut at the limit.
    """
    if request.content_length is not None or not request.environ.get("wsgi.input_terminated"):
        return request.get_data(cache=False)
    body = read_at_most(request.environ["wsgi.input"], limit)
    if len(body) > limit:
        raise RequestEntityTooLarge()
    return body


def read_at_most(stream: BinaryIO, limit: int) -> bytes:
    """The stream to its end, or its first `limit` + 1 bytes: enough to tell it is too long."""
    chunks, size = [], 0
    while size <= limit:
        chunk = stream.read(min(READ_CHUNK_BYTES, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def storable_text(text: str) -> None:
    """A marshmallow validator: refuse text `storable` refuses."""
    if not storable(text):
        raise ValidationError("NUL characters and unpaired surrogates are not accepted.")
