"""Response shapes of the HTTP API, as marshmallow schemas.

The views dump their answers through these, and `/openapi.json` is generated from them
and from the request schemas the views validate with, so the document cannot drift from
what the service does.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from flask import Response, jsonify
from marshmallow import Schema, fields

from webhook_app.model.clock import isoformat
from webhook_app.model.states import (
    AttemptOutcome,
    DeliveryStatus,
    ReceiptStatus,
    values,
)
from webhook_app.plugins.provider import PROVIDER_NAME, Provider


class Moment(fields.DateTime):
    """RFC 3339 in UTC with a `Z`, like CloudEvent times."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else isoformat(value)


class ErrorBody(Schema):
    code = fields.String(required=True, metadata={"example": "invalid_callback"})
    message = fields.String(required=True)
    details = fields.Raw(allow_none=True)


class Error(Schema):
    error = fields.Nested(ErrorBody, required=True)


class Recording(Schema):
    id = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    transcript = fields.String(allow_none=True)
    stoi_score = fields.Float(allow_none=True)
    pesq_score = fields.Float(allow_none=True)
    si_sdr_score = fields.Float(allow_none=True)
    resemble_sample_score = fields.Float(allow_none=True)
    is_active = fields.Boolean(allow_none=True)
    is_outlier = fields.Boolean(allow_none=True)
    is_silent = fields.Boolean(allow_none=True)


class ProviderError(Schema):
    code = fields.String(required=True)
    message = fields.String(allow_none=True)


class EventData(Schema):
    provider = fields.String(required=True, metadata={"pattern": PROVIDER_NAME.pattern})
    voice_id = fields.String(required=True)
    status = fields.String(required=True)
    ok = fields.Boolean(required=True)
    issue = fields.String(allow_none=True)
    recordings = fields.List(
        fields.Nested(Recording),
        metadata={"description": "On the event's own answer; listings carry recordings_count instead"},
    )
    recordings_count = fields.Integer(
        metadata={"description": "In listings: how many recordings the event holds (GET /api/events/{id})"}
    )
    recordings_omitted = fields.Integer(
        dump_default=0, metadata={"description": "Recordings listed beyond the event's cap (in the receipt)"}
    )
    speaker_profile_id = fields.String(allow_none=True)
    operation_id = fields.String(allow_none=True)
    error = fields.Nested(ProviderError, allow_none=True)
    voice_name = fields.String(metadata={"description": "What its creator called the voice, when known"})
    resource_kind = fields.String(
        metadata={"description": "The provider's resource when not a voice: consent"}
    )


class OpsData(Schema):
    """`data` of an `ops.*` event (docs/design.md, "Ops events"): the fields depend on the type."""

    provider = fields.String(required=True, metadata={"enum": ["webhook-app"]})
    route = fields.String()
    delivery_id = fields.String()
    event_id = fields.String()
    event_type = fields.String()
    voice_id = fields.String()
    attempts = fields.Integer()
    discarded = fields.Integer(metadata={"description": "Deliveries a deleted route took with it"})
    reason = fields.String(metadata={"enum": ["failures", "manual", "probe"]})
    consecutive_failures = fields.Integer()
    paused_seconds = fields.Float()
    operation_id = fields.String()
    resource_id = fields.String()
    status_code = fields.Integer()
    error = fields.Nested(ProviderError, allow_none=True)


class _Data(fields.Field):
    """A voice event's `EventData` or an ops event's `OpsData`, dumped by the schema that fits."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if isinstance(value, dict) and value.get("provider") == "webhook-app":
            return _instance(OpsData).dump(value)
        return _instance(EventData).dump(value)


class CloudEvent(Schema):
    """A CloudEvents 1.0 structured JSON object, plus the receipt it came from."""

    specversion = fields.String(required=True, metadata={"example": "1.0"})
    id = fields.String(required=True)
    source = fields.String(required=True)
    type = fields.String(required=True, metadata={"example": "voice.dataset.issue"})
    subject = fields.String(required=True)
    time = fields.String(required=True, metadata={"format": "date-time"})
    datacontenttype = fields.String(required=True)
    data = _Data(
        required=True,
        metadata={
            "anyOf": [{"$ref": "#/components/schemas/EventData"}, {"$ref": "#/components/schemas/OpsData"}]
        },
    )
    receipt_id = fields.String(allow_none=True)
    test = fields.Boolean(metadata={"description": "CloudEvents extension: a test event from `routes check`"})


class Attempt(Schema):
    number = fields.Integer(required=True)
    started_at = Moment(required=True)
    finished_at = Moment(required=True)
    outcome = fields.String(required=True, metadata={"enum": list(values(AttemptOutcome))})
    error = fields.String(allow_none=True)
    status_code = fields.Integer(allow_none=True, metadata={"description": "The target's HTTP or SMTP code"})
    duration_ms = fields.Integer(allow_none=True)
    response = fields.String(allow_none=True, metadata={"description": "The start of the answer, ≤ 1 KiB"})


class Delivery(Schema):
    id = fields.String(required=True)
    route = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": list(values(DeliveryStatus))})
    replay_of = fields.String(allow_none=True)
    next_attempt_at = Moment(allow_none=True)
    last_error = fields.String(allow_none=True)
    attempts = fields.List(fields.Nested(Attempt), required=True)


class EventDetail(CloudEvent):
    deliveries = fields.List(fields.Nested(Delivery), required=True)


class DeliveryCounts(Schema):
    pending = fields.Integer(required=True)
    succeeded = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    dead = fields.Integer(required=True)


class ListedEvent(CloudEvent):
    delivery_counts = fields.Nested(DeliveryCounts, required=True)


class EventPage(Schema):
    items = fields.List(fields.Nested(ListedEvent), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class ListedDelivery(Schema):
    id = fields.String(required=True)
    event_id = fields.String(required=True)
    event_type = fields.String(required=True)
    voice_id = fields.String(required=True, metadata={"description": "The event's subject"})
    route = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": list(values(DeliveryStatus))})
    attempts = fields.Integer(required=True, metadata={"description": "How many attempts so far"})
    next_attempt_at = Moment(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = Moment(required=True)
    updated_at = Moment(required=True)
    resolved_by = fields.String(
        allow_none=True,
        metadata={"description": "For a dead delivery a later one fixed: that delivery's id (its replay)"},
    )


class DeliveryPage(Schema):
    items = fields.List(fields.Nested(ListedDelivery), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class Voice(Schema):
    provider = fields.String(required=True)
    voice_id = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "The provider's latest status word"})
    events = fields.List(
        fields.Nested(CloudEvent),
        required=True,
        metadata={"description": "A page of the timeline, oldest first"},
    )
    next_cursor = fields.String(allow_none=True)


class ListedVoice(Schema):
    provider = fields.String(required=True)
    voice_id = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "The provider's latest status word"})
    last_event_type = fields.String(required=True)
    last_event_at = Moment(required=True)
    first_seen_at = Moment(required=True)
    events = fields.Integer(required=True)
    name = fields.String(allow_none=True, metadata={"description": "What its creator called it, when known"})
    kind = fields.String(
        allow_none=True, metadata={"description": "consent, for a consent; null for a voice"}
    )
    test = fields.Boolean(metadata={"description": "Only test events named it"})


class VoicePage(Schema):
    items = fields.List(fields.Nested(ListedVoice), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class StatsEvents(Schema):
    bucket_start = Moment(required=True)
    type = fields.String(required=True)
    count = fields.Integer(required=True)


class StatsDeliveries(Schema):
    bucket_start = Moment(required=True)
    route = fields.String(required=True)
    succeeded = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    dead = fields.Integer(required=True)


class StatsRoute(Schema):
    route = fields.String(required=True)
    p50_ms = fields.Integer(
        allow_none=True,
        required=True,
        metadata={"description": "An upper bound: the histogram bucket it falls under"},
    )
    p99_ms = fields.Integer(
        allow_none=True,
        required=True,
        metadata={"description": "An upper bound: the histogram bucket it falls under"},
    )


class Attention(Schema):
    dead_deliveries = fields.Integer(required=True)
    paused_routes = fields.List(fields.String(), required=True)
    rejected_receipts = fields.Integer(required=True, metadata={"description": "In the window"})


class Stats(Schema):
    window = fields.String(required=True, metadata={"enum": ["24h", "7d", "30d"]})
    bucket_seconds = fields.Integer(required=True)
    since = Moment(required=True)
    events = fields.List(fields.Nested(StatsEvents), required=True)
    deliveries = fields.List(fields.Nested(StatsDeliveries), required=True)
    routes = fields.List(fields.Nested(StatsRoute), required=True)
    attention = fields.Nested(Attention, required=True)


@cache
def stats_schema(providers: tuple[type[Provider], ...]) -> type[Schema]:
    """`Stats` with what each provider adds (`OpenAPIFragment.stats` and `.attention`)."""
    fragments = [provider.openapi() for provider in providers]
    attention = type("Attention", (Attention,), {k: v for f in fragments for k, v in f.attention.items()})
    added = {k: v for f in fragments for k, v in f.stats.items()}
    return type("Stats", (Stats,), {**added, "attention": fields.Nested(attention, required=True)})


class Receipt(Schema):
    id = fields.String(required=True)
    provider = fields.String(required=True)
    received_at = Moment(required=True)
    status = fields.String(required=True, metadata={"enum": list(values(ReceiptStatus))})
    reason = fields.Raw(allow_none=True)
    content_type = fields.String(allow_none=True)
    headers = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    body = fields.String(required=True)
    body_encoding = fields.String(required=True, metadata={"enum": ["utf-8", "base64"]})
    event_ids = fields.List(fields.String(), required=True)


class ListedReceipt(Schema):
    id = fields.String(required=True)
    provider = fields.String(required=True)
    state = fields.String(required=True, metadata={"enum": list(values(ReceiptStatus))})
    received_at = Moment(required=True)
    error = fields.Raw(
        allow_none=True,
        required=True,
        metadata={"description": "Why it was refused: {code, message, details}"},
    )


class ReceiptPage(Schema):
    items = fields.List(fields.Nested(ListedReceipt), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class IngestResult(Schema):
    receipt_id = fields.String(required=True)
    event_ids = fields.List(fields.String(), required=True)
    duplicate = fields.Boolean(required=True)


class ReplayedDelivery(Schema):
    id = fields.String(required=True)
    route = fields.String(required=True)
    status = fields.String(required=True)
    replay_of = fields.String(allow_none=True)


class Replay(Schema):
    event_id = fields.String(required=True)
    deliveries = fields.List(fields.Nested(ReplayedDelivery), required=True)


class Health(Schema):
    status = fields.String(required=True)


class Ready(Schema):
    status = fields.String(required=True)
    schema = fields.String(required=True)


def respond(schema: type[Schema], data: Any, status: int = 200) -> Response:
    """Serialize `data` through `schema`: what the OpenAPI document promises is what is sent."""
    response = jsonify(dump(schema, data))
    response.status_code = status
    return response


def dump(schema: type[Schema], data: Any) -> Any:
    return _instance(schema).dump(data)


@cache
def _instance(schema: type[Schema]) -> Schema:
    """One instance per schema: building one deep-copies its fields, which cost more than the dump."""
    return schema()
