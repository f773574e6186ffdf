"""Realistic Resemble callbacks, shaped like the documented ones, for `simulate` and benchmarks."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from webhook_app.events import Event, EventData, EventType, ProviderError

SIMULATED_STATUSES = ("finished", "dataset_issue", "consent_validation_failed")


def resemble_callback(status: str, voice_id: str | None = None) -> dict[str, Any]:
    voice_id = voice_id or str(uuid.uuid4())
    if status == "finished":
        return {"ok": True, "id": voice_id, "status": "finished", "recordings": [], "issue": None}
    if status == "consent_validation_failed":
        return {
            "ok": False,
            "id": voice_id,
            "status": "consent_validation_failed",
            "issue": "The consent statement does not match the required text.",
            "recordings": [],
        }
    if status != "dataset_issue":
        return {"ok": False, "id": voice_id, "status": status, "issue": None, "recordings": []}
    return {
        "ok": "false",
        "id": voice_id,
        "status": status,
        "issue": "3 recordings are silent or too noisy to train on.",
        "recordings": [
            {
                "uuid": str(uuid.uuid4()),
                "name": f"take_{n:03d}.wav",
                "transcript": text,
                "stoi_score": stoi,
                "pesq_score": pesq,
                "si_dr_score": sdr,
                "resemble_sample_score": sample,
                "is_active": active,
                "is_outlier": outlier,
                "is_silent": silent,
            }
            for n, (text, stoi, pesq, sdr, sample, active, outlier, silent) in enumerate(
                [
                    (
                        "The quick brown fox jumps over the lazy dog.",
                        "0.41",
                        "1.2",
                        "3.5",
                        "0.22",
                        "true",
                        "true",
                        "false",
                    ),
                    ("She sells sea shells by the sea shore.", 0.12, 1.05, -2.1, 0.08, True, False, True),
                    (
                        "How much wood would a woodchuck chuck?",
                        "0.55",
                        "1.9",
                        "7.25",
                        "0.35",
                        "false",
                        "true",
                        "false",
                    ),
                ],
                start=1,
            )
        ],
    }


_RESEMBLE_STATUS = {
    EventType.TRAINING_SUCCEEDED: "finished",
    EventType.DATASET_ISSUE: "dataset_issue",
    EventType.CONSENT_FAILED: "consent_validation_failed",
    EventType.TRAINING_FAILED: "failed",
    EventType.STATUS_CHANGED: "processing",
}
TEST_PREFERENCE = (
    EventType.DATASET_ISSUE,
    EventType.CONSENT_FAILED,
    EventType.TRAINING_FAILED,
    EventType.TRAINING_SUCCEEDED,
    EventType.STATUS_CHANGED,
    EventType.OPERATION_STALLED,
    EventType.OPS_DELIVERY_DEAD,
    EventType.OPS_ROUTE_PAUSED,
    EventType.OPS_ROUTE_RESUMED,
    EventType.OPS_AZURE_UNAUTHORIZED,
)


def sample_event(
    event_type: EventType, provider: str = "resemble", voice_id: str = "webhook-app-test"
) -> Event:
    """A realistic event of any type, for `routes check --send-test`."""
    now = datetime.now(UTC)
    if event_type.is_ops:
        return replace(sample_ops_event(event_type, now), test=True)
    if provider == "resemble" and event_type in _RESEMBLE_STATUS:
        from webhook_app.providers import resemble  # marshmallow: only for the commands that need it

        callback = resemble.validate_callback(resemble_callback(_RESEMBLE_STATUS[event_type], voice_id))
        (event,) = resemble.to_events(callback, receipt_id=None, received_at=now)
        return replace(event, test=True)
    error = (
        None
        if event_type in (EventType.TRAINING_SUCCEEDED, EventType.STATUS_CHANGED)
        else ProviderError(code="Internal", message="Test event from webhook-app routes check.")
    )
    data = EventData(
        provider=provider,
        voice_id=voice_id,
        status="Succeeded" if error is None else "Failed",
        ok=error is None,
        issue=error.message if error else None,
        operation_id="00000000-0000-0000-0000-000000000000",
        error=error,
    )
    return Event(type=event_type, source=f"/providers/{provider}", time=now, data=data, test=True)


def sample_ops_event(event_type: EventType, now: datetime) -> Event:
    """What the service would say about a route `example` (or an Azure operation)."""
    from webhook_app import ops

    if event_type is EventType.OPS_DELIVERY_DEAD:
        dead = sample_event(EventType.DATASET_ISSUE)
        return ops.delivery_dead(
            route="example", delivery_id="dlv_test", event=dead, attempts=8, code="dead",
            message="gave up after 8 attempts: answered 503", at=now,
        )  # fmt: skip
    if event_type is EventType.OPS_ROUTE_PAUSED:
        return ops.route_paused(
            route="example", reason="failures", consecutive_failures=20, error="answered 503", at=now
        )
    if event_type is EventType.OPS_ROUTE_RESUMED:
        return ops.route_resumed(route="example", reason="probe", paused_seconds=720.0, at=now)
    return ops.azure_unauthorized(
        operation_id="00000000-0000-0000-0000-000000000000", resource_id="Jessica-PersonalVoice",
        status_code=401, at=now,
    )  # fmt: skip
