"""Provider text made safe to print on a terminal or a line of a text log, or to store.

A newline in a voice id forged a whole log line, and escape sequences in one reached the
operator's terminal through `events list`. Control characters are shown escaped instead
(`\\n`, `\\x1b`), so what a provider sent is still visible, and nothing it sent acts.

JSON can carry strings no database column takes: `\\u0000` (PostgreSQL refuses NUL in text
and jsonb) and unpaired surrogates such as `\\ud800` (not encodable as UTF-8, for either
database). Both can only arrive as `\\u` escapes, since raw NUL bytes and raw surrogates
are not valid JSON text; so the raw body is searched first, and the parsed value is walked
only when an escape of that kind is there.
"""

from __future__ import annotations

import re
from typing import Any

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SUSPECT_ESCAPE = re.compile(rb"\\u0000|\\u[dD][89a-fA-F]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    return CONTROL_CHARACTERS.sub(lambda match: _escaped(match.group()), text)


def _escaped(character: str) -> str:
    code = ord(character)
    return _NAMED.get(character) or (f"\\x{code:02x}" if code < 256 else f"\\u{code:04x}")


def storable(text: str) -> bool:
    """Whether both databases can keep `text`: no NUL (PostgreSQL refuses it in text and
    jsonb) and no unpaired surrogate (not encodable as UTF-8)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def made_storable(text: str) -> str:
    """`text` as both databases can keep it: each NUL or unpaired surrogate becomes U+FFFD.
    For what a target or a handler said (an answer, an error), which is kept, not refused."""
    return _UNSTORABLE.sub("\ufffd", text)


def unstorable_text(body: bytes, parsed: Any) -> str | None:
    """Where `parsed` holds a NUL or an unpaired surrogate (a path like `recordings[2].name`), or None."""
    if not _SUSPECT_ESCAPE.search(body):
        return None
    return unstorable_at(parsed)


def unstorable_at(parsed: Any) -> str | None:
    """Where a parsed document holds a NUL or an unpaired surrogate, or None."""
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
