"""A callback body read whole and bounded, and the JSON text a database cannot keep.

JSON can carry strings no database column takes: `\\u0000` (PostgreSQL refuses NUL in text
and jsonb) and unpaired surrogates such as `\\ud800` (not encodable as UTF-8, for either
database). Both can only arrive as `\\u` escapes, since raw NUL bytes and raw surrogates
are not valid JSON text; so the raw body is searched first, and the parsed value is walked
only when an escape of that kind is there.
"""

from __future__ import annotations

import re
from typing import Any, BinaryIO

from flask import request
from marshmallow import ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from webhook_app.text import storable

READ_CHUNK_BYTES = 64 * 1024
_SUSPECT_ESCAPE = re.compile(rb"\\u0000|\\u[dD][89a-fA-F]")


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


def unstorable_text(body: bytes, parsed: Any) -> str | None:
    """Where `parsed` holds a NUL or an unpaired surrogate (a path like `recordings[2].name`), or None."""
    if not _SUSPECT_ESCAPE.search(body):
        return None
    stack: list[tuple[str, Any]] = [("", parsed)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if not storable(value):
                return path or "(the body)"
        elif isinstance(value, dict):
            for key, item in value.items():
                if not storable(key):
                    return f"{path}.(a key)" if path else "(a key)"
                stack.append((f"{path}.{key}" if path else key, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
    return None


def storable_text(text: str) -> None:
    """A marshmallow validator: refuse text `storable` refuses."""
    if not storable(text):
        raise ValidationError("NUL characters and unpaired surrogates are not accepted.")
