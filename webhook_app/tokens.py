"""Comparing a presented token with the valid ones without telling anything through timing."""

from __future__ import annotations

import hmac
from collections.abc import Iterable


def token_matches(candidate: str, valid: Iterable[str]) -> bool:
    """Constant-time against every valid token, so timing says neither which nor how much matched."""
    return matching_token(candidate, valid) is not None


def matching_token(candidate: str, valid: Iterable[str]) -> int | None:
    """Which valid token (its index) the candidate is, compared with every one in constant time."""
    given = candidate.encode()
    found = None
    for index, token in enumerate(valid):
        if hmac.compare_digest(given, token.encode()):
            found = index
    return found
