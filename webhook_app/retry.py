"""When to try a failed delivery again."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime


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


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP-date; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - now).total_seconds())
