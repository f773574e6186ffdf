"""Provider text made safe to print on a terminal or a line of a text log, or to store.

A newline in a voice id forged a whole log line, and escape sequences in one reached the
operator's terminal through `events list`. Control characters are shown escaped instead
(`\\n`, `\\x1b`), so what a provider sent is still visible, and nothing it sent acts.
"""

from __future__ import annotations

import re

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
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
