"""The normalized event: one shape for every provider, serialized as a CloudEvents 1.0 object.

Two families share it: `voice.*` events (what a provider said about a voice, `EventData`)
and `ops.*` events (what this service says about itself: a dead delivery, a paused
route, `OpsData`, whose fields per type are in docs/design.md).

Handlers receive `Event` objects; the store keeps `Event.to_cloudevent()`.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from webhook_app.model.clock import isoformat

SPECVERSION = "1.0"


class EventType(StrEnum):
    TRAINING_SUCCEEDED = "voice.training.succeeded"
    TRAINING_FAILED = "voice.training.failed"
    DATASET_ISSUE = "voice.dataset.issue"
    CONSENT_FAILED = "voice.consent.failed"
    STATUS_CHANGED = "voice.status.changed"
    OPERATION_STALLED = "voice.operation.stalled"
    OPS_DELIVERY_DEAD = "ops.delivery.dead"
    OPS_ROUTE_PAUSED = "ops.route.paused"
    OPS_ROUTE_RESUMED = "ops.route.resumed"
    OPS_AZURE_UNAUTHORIZED = "ops.azure.unauthorized"

    @property
    def is_ops(self) -> bool:
        return self.value.startswith("ops.")


ALARMS = frozenset(
    {EventType.OPS_DELIVERY_DEAD, EventType.OPS_ROUTE_PAUSED, EventType.OPS_AZURE_UNAUTHORIZED}
)
"""Ops events that mean something stopped working (the pages show them in red)."""

OPS_PROVIDER = "webhook-app"
"""`data.provider` of every ops event."""
OPS_SOURCE = "/webhook-app"


FAILURE_TYPES = frozenset(
    {
        EventType.TRAINING_FAILED,
        EventType.DATASET_ISSUE,
        EventType.CONSENT_FAILED,
        EventType.OPERATION_STALLED,
    }
)


@dataclass(frozen=True)
class Recording:
    """One recording a provider commented on (Resemble's dataset-issue list)."""

    id: str | None
    name: str | None = None
    transcript: str | None = None
    stoi_score: float | None = None
    pesq_score: float | None = None
    si_sdr_score: float | None = None
    resemble_sample_score: float | None = None
    is_active: bool | None = None
    is_outlier: bool | None = None
    is_silent: bool | None = None


@dataclass(frozen=True)
class ProviderError:
    code: str
    message: str | None = None


@dataclass(frozen=True)
class EventData:
    provider: str
    voice_id: str
    status: str
    ok: bool
    issue: str | None = None
    recordings: tuple[Recording, ...] = ()
    recordings_omitted: int = 0
    """Recordings the provider listed beyond what an event keeps; all of them stay in the receipt."""
    speaker_profile_id: str | None = None
    operation_id: str | None = None
    error: ProviderError | None = None
    voice_name: str | None = None
    """What the voice's creator called it, when the provider said (`resemble create-voice --name`)."""
    resource_kind: str | None = None
    """What the provider's resource is when it is not a voice itself (`consent`)."""


@dataclass(frozen=True)
class OpsData:
    """`data` of an `ops.*` event: its `subject` (the route or operation concerned) and its fields."""

    subject: str
    fields: Mapping[str, Any]
    """JSON values, per type as docs/design.md lists them (`route`, `delivery_id`, `error`, …)."""
    provider: str = OPS_PROVIDER

    def get(self, name: str) -> Any:
        return self.fields.get(name)


@dataclass(frozen=True)
class Event:
    type: EventType
    source: str
    time: datetime
    data: EventData | OpsData
    receipt_id: str | None = None
    id: str = field(default_factory=lambda: new_id("evt"))
    test: bool = False
    """A test event (`routes check --send-test`): the CloudEvents extension attribute `test: true`."""

    @property
    def subject(self) -> str:
        """The voice id, or for an ops event the route or operation concerned."""
        return self.data.subject if isinstance(self.data, OpsData) else self.data.voice_id

    @property
    def status(self) -> str:
        """The provider's status word, or for an ops event the type's last word (`dead`, `paused`…)."""
        return self.type.rsplit(".", 1)[1] if isinstance(self.data, OpsData) else self.data.status

    @property
    def voice(self) -> EventData | None:
        """The voice data of a `voice.*` event; None for an ops event."""
        return self.data if isinstance(self.data, EventData) else None

    def to_cloudevent(self) -> dict[str, Any]:
        """The structured-mode CloudEvent, plus `receipt_id`."""
        # Built by hand: dataclasses.asdict deep-copies and was a tenth of an ingest's cost.
        d = self.data
        data = {"provider": d.provider, **d.fields} if isinstance(d, OpsData) else self._voice_data(d)
        document: dict[str, Any] = {
            "specversion": SPECVERSION,
            "id": self.id,
            "source": self.source,
            "type": str(self.type),
            "subject": self.subject,
            "time": isoformat(self.time),
            "datacontenttype": "application/json",
            "data": data,
            "receipt_id": self.receipt_id,
        }
        if self.test:
            document["test"] = True
        return document

    @staticmethod
    def _voice_data(d: EventData) -> dict[str, Any]:
        return {
            "provider": d.provider,
            "voice_id": d.voice_id,
            "status": d.status,
            "ok": d.ok,
            "issue": d.issue,
            "recordings": [dict(vars(r)) for r in d.recordings],
            "recordings_omitted": d.recordings_omitted,
            "speaker_profile_id": d.speaker_profile_id,
            "operation_id": d.operation_id,
            "error": {"code": d.error.code, "message": d.error.message} if d.error else None,
            # Only when known, so that every other event keeps the shape it always had.
            **({"voice_name": d.voice_name} if d.voice_name else {}),
            **({"resource_kind": d.resource_kind} if d.resource_kind else {}),
        }

    @classmethod
    def from_cloudevent(cls, document: dict[str, Any]) -> Event:
        """Rebuild an event the store kept; unknown types stay readable as their string."""
        event_type = EventType(document["type"])
        if event_type.is_ops:
            fields = {k: v for k, v in document["data"].items() if k != "provider"}
            return cls(
                id=document["id"],
                type=event_type,
                source=document["source"],
                time=datetime.fromisoformat(document["time"].replace("Z", "+00:00")),
                data=OpsData(subject=document["subject"], fields=fields),
                receipt_id=document.get("receipt_id"),
                test=document.get("test") is True,
            )
        raw = dict(document["data"])
        recordings = tuple(Recording(**r) for r in raw.pop("recordings", []) or [])
        error = raw.pop("error", None)
        data = EventData(
            **raw,
            recordings=recordings,
            error=ProviderError(**error) if error else None,
        )
        return cls(
            id=document["id"],
            type=event_type,
            source=document["source"],
            time=datetime.fromisoformat(document["time"].replace("Z", "+00:00")),
            data=data,
            receipt_id=document.get("receipt_id"),
            test=document.get("test") is True,
        )


def new_id(prefix: str) -> str:
    """Unguessable ids with a readable prefix (`evt_…`, `rcpt_…`, `dlv_…`) that sort by creation time.

    32 hex digits as before: 48 bits of milliseconds since the epoch, then 80 random bits
    (the layout of UUIDv7, RFC 9562, without the version bits). Ids that grow with time
    land at the right edge of their unique indexes, so each insert touches the page the
    previous one touched instead of a random page: fewer pages written per commit.
    """
    return f"{prefix}_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"
