"""Opaque page cursors: where a listing stopped, handed out and read back only by this service."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

MAX_SEQ = 2**63


@dataclass(frozen=True)
class CursorPosition:
    """Where a page ended: the last event's `seq`, and its time when the listing is by time."""

    seq: int
    at: datetime | None = None


def encode_cursor(seq: int, at: datetime | None = None) -> str:
    text = f"v1:{seq}" if at is None else f"v2:{seq}:{at.isoformat()}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, timed: bool = False) -> CursorPosition:
    """The position in a cursor; ValueError for anything this service did not hand out.

    A listing filtered by time is ordered by time (v2 cursors), any other by `seq` (v1).
    """
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, _, rest = text.partition(":")
        seq, _, at = rest.partition(":")
        position = int(seq)
        if (
            version != ("v2" if timed else "v1") or not 0 < position < MAX_SEQ
        ):  # beyond a BIGINT, no query could
            raise ValueError
        moment = datetime.fromisoformat(at) if timed else None
        if moment is not None and moment.tzinfo is None:
            raise ValueError
        return CursorPosition(position, moment)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("cursor is not one this service returned") from None


def encode_row_cursor(at: datetime, row_id: str) -> str:
    """Where a listing ordered by (time, id) stopped (deliveries, receipts)."""
    return base64.urlsafe_b64encode(f"r1:{at.isoformat()}|{row_id}".encode()).decode().rstrip("=")


def decode_row_cursor(cursor: str) -> tuple[datetime, str]:
    """ValueError for anything `encode_row_cursor` did not hand out."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, _, rest = text.partition(":")
        at, _, row_id = rest.partition("|")
        moment = datetime.fromisoformat(at)
        if version != "r1" or moment.tzinfo is None or not 0 < len(row_id) <= 40:
            raise ValueError
        return moment, row_id
    except (ValueError, UnicodeDecodeError):
        raise ValueError("cursor is not one this service returned") from None
