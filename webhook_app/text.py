"""Provider text made safe to print on a terminal or a line of a text log.

A newline in a voice id forged a whole log line, and escape sequences in one reached the
operator's terminal through `events list`. Control characters are shown escaped instead
(`\\n`, `\\x1b`), so what a provider sent is still visible, and nothing it sent acts.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    return _CONTROL.sub(lambda m: _NAMED.get(m.group(), f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256
                                            else f"\\u{ord(m.group()):04x}"), text)  # fmt: skip
