"""A request body read whole and bounded, and a validator for text a database cannot keep."""

from __future__ import annotations

from typing import IO, Any

from marshmallow import ValidationError
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import get_input_stream

from webhook_app.model.text import storable

READ_CHUNK_BYTES = 64 * 1024


def read_body(environ: dict[str, Any], limit: int) -> bytes:
    """The whole request body, or `RequestEntityTooLarge` when it is longer than `limit`,
    however it was sent.

    A declared length more than one byte over the limit is refused before reading, and a
    body that ends before its declared length is `ClientDisconnected` (a 400) (werkzeug's
    `get_input_stream`). Otherwise the body is read up to one byte past the limit, so one
    that is too long is refused rather than cut at the limit (werkzeug's own maximum would
    refuse the read past it, and with it a chunked body of exactly `limit` bytes).
    """
    body = read_at_most(get_input_stream(environ, max_content_length=limit + 1), limit)
    if len(body) > limit:
        raise RequestEntityTooLarge()
    return body


def read_at_most(stream: IO[bytes], limit: int) -> bytes:
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
