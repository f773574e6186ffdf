"""Resemble AI voice callbacks (`callback_uri` of Create voice, API v2) as normalized events.

Resemble does not sign callbacks, so authentication is the token in the callback URL
(handled by the ingest view). This module only validates and maps.

The published examples have slips that real payloads may share: `si_dr_score` for
`si_sdr_score`, `ok` and flags as strings, scores as numeric strings. All are accepted.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from marshmallow import EXCLUDE, INCLUDE, Schema, fields, pre_load, validate

from webhook_app.events import (
    FAILURE_TYPES,
    Event,
    EventData,
    EventType,
    ProviderError,
    Recording,
)

PROVIDER = "resemble"
SOURCE = "/providers/resemble"

EVENT_TYPE_BY_STATUS: dict[str, EventType] = {
    "finished": EventType.TRAINING_SUCCEEDED,
    "dataset_issue": EventType.DATASET_ISSUE,
    "consent_validation_failed": EventType.CONSENT_FAILED,
    "failed": EventType.TRAINING_FAILED,
    "error": EventType.TRAINING_FAILED,
    "training_failed": EventType.TRAINING_FAILED,
}
"""Resemble's status word → event type; any other word is `voice.status.changed`."""


class RecordingSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    uuid = fields.String(allow_none=True, load_default=None)
    name = fields.String(allow_none=True, load_default=None)
    transcript = fields.String(allow_none=True, load_default=None)
    stoi_score = fields.Float(allow_none=True, load_default=None)
    pesq_score = fields.Float(allow_none=True, load_default=None)
    si_sdr_score = fields.Float(allow_none=True, load_default=None)
    resemble_sample_score = fields.Float(allow_none=True, load_default=None)
    is_active = fields.Boolean(allow_none=True, load_default=None)
    is_outlier = fields.Boolean(allow_none=True, load_default=None)
    is_silent = fields.Boolean(allow_none=True, load_default=None)

    @pre_load
    def accept_documented_misspelling(self, data: Any, **_: Any) -> Any:
        """The docs spell SI-SDR `si_dr_score`; take it when the right name is absent."""
        if isinstance(data, dict) and "si_sdr_score" not in data and "si_dr_score" in data:
            data = {**data, "si_sdr_score": data["si_dr_score"]}
        return data


class CallbackSchema(Schema):
    """A Resemble callback body. `id` and `status` are required; the rest is optional."""

    class Meta:
        unknown = INCLUDE

    id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    status = fields.String(required=True, validate=validate.Length(min=1, max=100))
    ok = fields.Boolean(allow_none=True, load_default=None)
    issue = fields.String(allow_none=True, load_default=None)
    recordings = fields.List(fields.Nested(RecordingSchema), allow_none=True, load_default=list)


_schema = CallbackSchema()


def validate_callback(body: Any) -> dict[str, Any]:
    """Load a parsed JSON body; raises `marshmallow.ValidationError` with field messages."""
    return _schema.load(body)


def event_type_for(status: str) -> EventType:
    return EVENT_TYPE_BY_STATUS.get(status.strip().lower(), EventType.STATUS_CHANGED)


def to_events(callback: dict[str, Any], *, receipt_id: str | None, received_at: datetime) -> list[Event]:
    """One callback is one event."""
    event_type = event_type_for(callback["status"])
    ok = callback["ok"]
    if ok is None:
        ok = event_type is EventType.TRAINING_SUCCEEDED
    error = None
    if event_type in FAILURE_TYPES:
        error = ProviderError(code=callback["status"], message=callback["issue"])
    recordings = tuple(
        Recording(
            id=r["uuid"],
            name=r["name"],
            transcript=r["transcript"],
            stoi_score=r["stoi_score"],
            pesq_score=r["pesq_score"],
            si_sdr_score=r["si_sdr_score"],
            resemble_sample_score=r["resemble_sample_score"],
            is_active=r["is_active"],
            is_outlier=r["is_outlier"],
            is_silent=r["is_silent"],
        )
        for r in callback["recordings"] or []
    )
    data = EventData(
        provider=PROVIDER,
        voice_id=callback["id"],
        status=callback["status"],
        ok=ok,
        issue=callback["issue"],
        recordings=recordings,
        error=error,
    )
    return [Event(type=event_type, source=SOURCE, time=received_at, data=data, receipt_id=receipt_id)]


def dedupe_key(body: Any) -> str:
    """Identical callbacks (same voice, same canonical JSON) share this key."""
    voice_id = body.get("id") if isinstance(body, dict) else None
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{PROVIDER}\x00{voice_id}\x00{canonical}".encode()).hexdigest()
