"""The route-health policy: what an attempt or a press does to a route, decided without a database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from webhook_app.model import route_health
from webhook_app.model.events import EventType
from webhook_app.model.states import AttemptOutcome, PauseReason, RouteState

AT = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@dataclass
class Row:
    state: str = RouteState.ACTIVE.value
    paused_reason: str | None = None
    paused_at: datetime | None = None
    paused_seconds: float = 0.0
    consecutive_failures: int = 0


def attempt(row: Row, outcome: str, pause_after: int = 3) -> route_health.HealthChange:
    return route_health.after_attempt(
        "partner", row, outcome, pause_after_failures=pause_after, probe_seconds=60, at=AT, error="503"
    )


def test_failures_count_and_the_one_that_reaches_the_limit_pauses_once() -> None:
    assert attempt(Row(consecutive_failures=1), AttemptOutcome.FAILED).raised == []
    change = attempt(Row(consecutive_failures=2), AttemptOutcome.FAILED)
    assert change.values["state"] == RouteState.PAUSED and change.values["consecutive_failures"] == 3
    assert change.values["next_probe_at"] == AT + timedelta(seconds=60)
    assert [e.type for e in change.raised] == [EventType.OPS_ROUTE_PAUSED]
    already = Row(
        state=RouteState.PAUSED.value, paused_reason=PauseReason.FAILURES.value, consecutive_failures=3
    )
    assert attempt(already, AttemptOutcome.FAILED).raised == []
    assert attempt(Row(consecutive_failures=50), AttemptOutcome.FAILED, pause_after=0).raised == []


def test_a_success_resumes_only_a_pause_for_failures() -> None:
    probed = Row(
        state=RouteState.PAUSED.value,
        paused_reason=PauseReason.FAILURES.value,
        paused_at=AT - timedelta(minutes=2),
        paused_seconds=10.0,
    )
    change = attempt(probed, AttemptOutcome.SUCCEEDED)
    assert [e.type for e in change.raised] == [EventType.OPS_ROUTE_RESUMED]
    assert change.values["state"] == RouteState.ACTIVE and change.values["paused_seconds"] == 130.0
    by_hand = Row(state=RouteState.PAUSED.value, paused_reason=PauseReason.MANUAL.value, paused_at=AT)
    assert attempt(by_hand, AttemptOutcome.SUCCEEDED) == route_health.HealthChange(
        {"consecutive_failures": 0}
    )


def test_a_press_changes_only_what_is_not_so_already() -> None:
    paused = route_health.pressed("partner", Row(consecutive_failures=4), True, at=AT)
    assert (
        paused.values["paused_reason"] == PauseReason.MANUAL
        and paused.raised[0].type == EventType.OPS_ROUTE_PAUSED
    )
    assert route_health.pressed("partner", Row(), False, at=AT) == route_health.HealthChange()
    resumed = route_health.pressed(
        "partner", Row(state=RouteState.PAUSED.value, paused_at=AT - timedelta(seconds=5)), False, at=AT
    )
    assert (
        resumed.values["consecutive_failures"] == 0 and resumed.raised[0].type == EventType.OPS_ROUTE_RESUMED
    )


def test_a_dead_delivery_raises_one_ops_event_but_never_about_an_ops_event() -> None:
    from webhook_app.model import ops
    from webhook_app.usecases.samples import sample_event

    issue = sample_event(EventType.DATASET_ISSUE, "resemble")
    dead = route_health.delivery_dead(route="r", delivery_id="d", event=issue, attempts=8, error="503", at=AT)
    assert dead is not None and dead.type == EventType.OPS_DELIVERY_DEAD
    assert dead.data.fields["event_id"] == issue.id and dead.data.fields["error"]["message"] == "503"

    voice = ops.route_resumed(route="x", reason="probe", paused_seconds=1.0, at=AT)
    assert (
        route_health.delivery_dead(route="r", delivery_id="d", event=voice, attempts=8, error="e", at=AT)
        is None
    )
