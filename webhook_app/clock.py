"""One injectable source of time, so backoff, leases and windows are testable without sleeping."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def isoformat(moment: datetime) -> str:
    """RFC 3339 with a `Z`, the form CloudEvents and the API use."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
