"""When to try a failed delivery again."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

_DELTA_SECONDS = re.compile(r"[0-9]{1,20}")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, capped.

    After the n-th failed attempt the next one waits
    ``min(max_seconds, base_seconds * factor ** (n - 1)) * U(0.5, 1.0)`` seconds, so each
    delay is at least the previous one for ``factor >= 2``. A delivery is dead once it has
    failed ``max_attempts`` times. The defaults (5 s, ×6, capped at 10 h, 8 attempts)
    spread retries over about a day, like Svix and Stripe.
    """

    max_attempts: int = 8
    base_seconds: float = 5.0
    max_seconds: float = 36000.0
    factor: float = 6.0

    def next_delay(
        self,
        failed_attempts: int,
        *,
        retry_after: float | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> float:
        """Seconds until the next attempt; a target's own `Retry-After` wins, within the cap."""
        if retry_after is not None:
            return min(self.max_seconds, max(0.0, retry_after))
        ceiling = min(self.max_seconds, self.base_seconds * self.factor ** (failed_attempts - 1))
        return ceiling * (0.5 + 0.5 * jitter())

    def gives_up_after(self, failed_attempts: int) -> bool:
        return failed_attempts >= self.max_attempts


MAX_RETRY_AFTER_SECONDS = 7 * 86400.0
"""More than anyone means: callers cap it lower; this keeps later date arithmetic finite."""


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP-date; None if absent or bad.

    Any date form `email.utils` reads is taken (RFC 1123, RFC 850, asctime, no zone = UTC);
    whatever else a target or proxy sends is None, never an exception.
    """
    if not value:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return min(float(value), MAX_RETRY_AFTER_SECONDS)
    try:
        moment = parsedate_to_datetime(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - now).total_seconds()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER_SECONDS)
