"""Resemble AI voice callbacks (`callback_uri` of Create voice, API v2) as normalized events.

Resemble does not sign callbacks, so authentication is the token in the callback URL
(`WEBHOOK_APP_RESEMBLE_TOKENS`, the provider's default check). This module only
validates and maps.

The published examples have slips that real payloads may share: `si_dr_score` for
`si_sdr_score`, `ok` and flags as strings, scores as numeric strings. All are accepted.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, INCLUDE, Schema, ValidationError, fields, pre_load, validate

from webhook_app.model.events import (
    FAILURE_TYPES,
    Event,
    EventData,
    EventType,
    ProviderError,
    Recording,
)
from webhook_app.plugins.provider import (
    InvalidCallback,
    OpenAPIFragment,
    ParsedCallback,
    Provider,
    ProviderSettings,
)
from webhook_app.providers.resemble.settings import ResembleSettings

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
MAX_RECORDINGS_IN_EVENT = 1000
"""An event keeps at most this many recordings, flagged ones first; `recordings_omitted` counts
the rest, and the receipt keeps the body as sent. Without a cap a body of empty recordings
(`[{},{},…]`) would become an event many times its size, and so would every copy of it
(API answer, page, forward POST, a worker's memory)"""
_RECORDING_TEXTS = ("uuid", "name", "transcript")
_RECORDING_SCORES = ("stoi_score", "pesq_score", "si_sdr_score", "resemble_sample_score")
_RECORDING_FLAGS = ("is_active", "is_outlier", "is_silent")


def validate_callback(body: Any) -> dict[str, Any]:
    """Load a parsed JSON body; raises `marshmallow.ValidationError` with field messages.

    The schema's per-field work was a fifth of a callback's cost. Nearly every callback
    has the documented types (or the documented strings for flags and scores), and for
    those `_load_plain` returns what the schema would, applying the schema's own
    conversions. Anything else (an error to report, a rarer form) goes through the schema,
    which stays the rule; tests/providers/resemble/test_callbacks_fuzz.py checks that the two agree.
    """
    body, omitted = _within_cap(body)
    try:
        loaded = _load_plain(body)
    except _NotPlain:
        loaded = _schema.load(body)
    loaded["recordings_omitted"] = omitted
    return loaded


def _within_cap(body: Any) -> tuple[Any, int]:
    """The body with at most `MAX_RECORDINGS_IN_EVENT` recordings (flagged first, in their order)."""
    recordings = body.get("recordings") if isinstance(body, dict) else None
    if type(recordings) is not list or len(recordings) <= MAX_RECORDINGS_IN_EVENT:
        return body, 0
    flagged = [i for i, recording in enumerate(recordings) if _looks_flagged(recording)]
    keep = set(flagged[:MAX_RECORDINGS_IN_EVENT])
    for i in range(len(recordings)):
        if len(keep) >= MAX_RECORDINGS_IN_EVENT:
            break
        keep.add(i)
    kept = [recordings[i] for i in sorted(keep)]
    return {**body, "recordings": kept}, len(recordings) - len(kept)


def _looks_flagged(recording: Any) -> bool:
    if type(recording) is not dict:
        return False
    return (
        recording.get("is_outlier") in (True, "true", "True")
        or recording.get("is_silent") in (True, "true", "True")
        or recording.get("is_active") in (False, "false", "False")
    )


class _NotPlain(Exception):
    """A value `_load_plain` leaves to the schema."""


def _load_plain(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _NotPlain
    voice_id, status = body.get("id"), body.get("status")
    if not (
        type(voice_id) is str
        and 1 <= len(voice_id) <= 200
        and type(status) is str
        and 1 <= len(status) <= 100
    ):
        raise _NotPlain
    recordings = body.get("recordings", [])
    if recordings is not None:
        if type(recordings) is not list:
            raise _NotPlain
        recordings = [_load_plain_recording(r) for r in recordings]
    return {**body, "ok": _flag(body.get("ok")), "issue": _text(body.get("issue")), "recordings": recordings}


def _load_plain_recording(recording: Any) -> dict[str, Any]:
    if type(recording) is not dict:
        raise _NotPlain
    if "si_sdr_score" not in recording and "si_dr_score" in recording:
        recording = {**recording, "si_sdr_score": recording["si_dr_score"]}  # as the schema's pre_load
    loaded: dict[str, Any] = {name: _text(recording.get(name)) for name in _RECORDING_TEXTS}
    loaded |= {name: _score(recording.get(name)) for name in _RECORDING_SCORES}
    return loaded | {name: _flag(recording.get(name)) for name in _RECORDING_FLAGS}


def _text(value: Any) -> str | None:
    if value is None or type(value) is str:
        return value
    raise _NotPlain


def _score(value: Any) -> float | None:
    """As `fields.Float`: `float(value)`, finite; bools and other types are the schema's to judge."""
    if value is None:
        return None
    if type(value) in (float, int, str):
        try:
            number = float(value)
        except (ValueError, OverflowError):
            raise _NotPlain from None
        if math.isfinite(number):
            return number
    raise _NotPlain


def _flag(value: Any) -> bool | None:
    """As `fields.Boolean`, for booleans and its true/false words."""
    if value is None or value is True or value is False:
        return value
    if type(value) is str:
        if value in fields.Boolean.truthy:
            return True
        if value in fields.Boolean.falsy:
            return False
    raise _NotPlain


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
        recordings_omitted=callback.get("recordings_omitted", 0),
        error=error,
    )
    return [Event(type=event_type, source=SOURCE, time=received_at, data=data, receipt_id=receipt_id)]


def dedupe_key(body: Any) -> str:
    """Identical callbacks (same voice, same canonical JSON) share this key."""
    voice_id = body.get("id") if isinstance(body, dict) else None
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{PROVIDER}\x00{voice_id}\x00{canonical}".encode()).hexdigest()


class ResembleProvider(Provider):
    """`POST /hooks/resemble/<token>`: a voice's training, dataset and consent outcomes."""

    name = PROVIDER
    title = "Resemble"
    samples = ("dataset_issue", "finished", "consent_validation_failed")

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        self.own = ResembleSettings.read(settings)  # a wrong setting stops start-up

    @classmethod
    def sample_callback(cls, sample: str, voice_id: str | None = None) -> dict[str, Any]:
        from webhook_app.providers.resemble.samples import resemble_callback

        return resemble_callback(sample, voice_id)

    @classmethod
    def sample_event(cls, event_type: EventType, voice_id: str) -> Event | None:
        """Parsed from a sample callback, as a real one would be (None for a type Resemble never sends)."""
        from webhook_app.providers.resemble.samples import STATUS_OF, resemble_callback

        if event_type not in STATUS_OF:
            return None
        callback = validate_callback(resemble_callback(STATUS_OF[event_type], voice_id))
        (event,) = to_events(callback, receipt_id=None, received_at=datetime.now(UTC))
        return event

    @classmethod
    def openapi(cls) -> OpenAPIFragment:
        # The recording first, so the callback refers to it by this name.
        schemas = {"ResembleRecording": RecordingSchema, "ResembleCallback": CallbackSchema}
        return OpenAPIFragment(schemas=schemas, callback_schema="ResembleCallback")

    def parse(self, body: Any, *, receipt_id: str, received_at: datetime) -> ParsedCallback:
        try:
            callback = validate_callback(body)
            key = dedupe_key(body)
        except ValidationError as exc:
            raise InvalidCallback(
                "The callback does not match Resemble's documented shape.", exc.messages
            ) from None
        return ParsedCallback(to_events(callback, receipt_id=receipt_id, received_at=received_at), key)
