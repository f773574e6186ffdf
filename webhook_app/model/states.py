"""The named states and kinds of what the service keeps, each defined once.

CLI choices, marshmallow validators and OpenAPI enums are derived from these (`values`),
so a new state is added in one place. Values are what the database stores.
"""

from __future__ import annotations

from enum import StrEnum


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # will be retried
    DEAD = "dead"


class ReceiptStatus(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class OperationState(StrEnum):
    ACTIVE = "active"
    FINISHED = "finished"
    STALLED = "stalled"
    ERROR = "error"


class OperationKind(StrEnum):
    PERSONAL_VOICE = "personal_voice"
    CONSENT = "consent"


def values(states: type[StrEnum]) -> tuple[str, ...]:
    """The plain strings, in the order defined: for choices, validators and enums."""
    return tuple(member.value for member in states)


class RouteState(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"  # its deliveries wait; one is tried every `probe_seconds`


class PauseReason(StrEnum):
    FAILURES = "failures"  # `pause_after_failures` consecutive failed attempts
    MANUAL = "manual"


class AttemptOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # retried later
    DEAD = "dead"
    PROBE_FAILED = "probe_failed"  # a paused route's probe: recorded, spends none of the delivery's attempts


class Role(StrEnum):
    """What a key may do, each role all the one before it may: `viewer` reads the API and the
    pages; `operator` also pauses, resumes, replays, reprocesses and retries; `admin` also
    changes routes and keys."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        order = list(Role)
        return order.index(self) >= order.index(needed)
