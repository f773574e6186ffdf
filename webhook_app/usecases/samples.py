"""Test events of every type, for `routes check --send-test` and the handlers' tests: the
provider's own sample where it offers one (`Provider.sample_event`), else a plain one."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from webhook_app.model import ops
from webhook_app.model.events import Event, EventData, EventType, ProviderError
from webhook_app.plugins.provider import Provider

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
    *(t for t in EventType if t.is_ops and t.value.endswith(".unauthorized")),
)
"""Which event a route test sends: the first type the route accepts."""


def sample_event(
    event_type: EventType, provider: type[Provider] | str, voice_id: str = "webhook-app-test"
) -> Event:
    """A realistic event of any type, marked `test`."""
    now = datetime.now(UTC)
    if event_type.is_ops:
        return replace(sample_ops_event(event_type, provider, now), test=True)
    if not isinstance(provider, str):
        own = provider.sample_event(event_type, voice_id)
        if own is not None:
            return replace(own, test=True)
        provider = provider.name
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


def sample_ops_event(event_type: EventType, provider: type[Provider] | str, now: datetime) -> Event:
    """What the service would say about a route `example` (or a provider's refused key)."""
    if event_type is EventType.OPS_DELIVERY_DEAD:
        dead = sample_event(EventType.DATASET_ISSUE, provider)
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
    return ops.provider_unauthorized(
        event_type, operation_id="00000000-0000-0000-0000-000000000000", resource_id="Jessica-PersonalVoice",
        status_code=401, at=now,
    )  # fmt: skip
