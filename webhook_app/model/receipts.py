"""What arrived, as kept (`NewReceipt`), and what recording it did (`IngestResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from webhook_app.model.events import new_id


@dataclass(frozen=True)
class NewReceipt:
    """What arrived, as kept: the raw body and the headers worth keeping (never secrets)."""

    provider: str
    received_at: datetime
    body: bytes
    headers: dict[str, str]
    content_type: str | None = None
    id: str = field(default_factory=lambda: new_id("rcpt"))


@dataclass(frozen=True)
class IngestResult:
    receipt_id: str
    event_ids: list[str]
    duplicate: bool
