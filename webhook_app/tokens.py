"""Comparing a presented token with the valid ones without telling anything through timing."""

from __future__ import annotations

import hmac
from collections.abc import Iterable


def token_matches(candidate: str, valid: Iterable[str]) -> bool:
    """Constant-time against every valid token, so timing says neither which nor how much matched."""
    given = candidate.encode()
    matched = False
    for token in valid:
        matched |= hmac.compare_digest(given, token.encode())
    return matched
