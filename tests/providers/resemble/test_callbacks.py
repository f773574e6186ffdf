"""The Resemble mapping, line by line, against the documented callbacks and their variants."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from marshmallow import ValidationError

from tests.conftest import load_fixture
from webhook_app.model.events import Event, EventType
from webhook_app.providers.resemble import callbacks as resemble

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def normalize(body: object) -> Event:
    (event,) = resemble.to_events(resemble.validate_callback(body), receipt_id="rcpt_x", received_at=NOW)
    return event


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("finished", EventType.TRAINING_SUCCEEDED),
        ("dataset_issue", EventType.DATASET_ISSUE),
        ("consent_validation_failed", EventType.CONSENT_FAILED),
        ("failed", EventType.TRAINING_FAILED),
        ("error", EventType.TRAINING_FAILED),
        ("FINISHED", EventType.TRAINING_SUCCEEDED),
        ("training", EventType.STATUS_CHANGED),
        ("something_new", EventType.STATUS_CHANGED),
    ],
)
def test_status_words_map_to_event_types(status: str, expected: EventType) -> None:
    assert resemble.event_type_for(status) is expected


def test_finished_seed_is_a_training_success() -> None:
    event = normalize(load_fixture("resemble_finished.json"))
    document = event.to_cloudevent()
    assert document["type"] == "voice.training.succeeded"
    assert document["specversion"] == "1.0"
    assert document["subject"] == "5f2d8f0e-1c1a-4f4e-9a51-6f1f4b0b7c11"
    assert document["source"] == "/providers/resemble"
    assert document["time"] == "2026-11-23T12:00:00.000000Z"
    assert document["receipt_id"] == "rcpt_x"
    assert document["data"]["ok"] is True
    assert document["data"]["error"] is None
    assert document["data"]["recordings"] == []


def test_dataset_issue_seed_normalizes_recordings_to_floats_and_booleans() -> None:
    event = normalize(load_fixture("resemble_dataset_issue.json"))
    assert event.type is EventType.DATASET_ISSUE
    assert event.data.ok is False
    assert event.data.issue == "Detailed description of the dataset issue."
    (recording,) = event.data.recordings
    assert recording.id == "0c6b7c8e-2b0f-4f39-9b62-5d3f0a1e2b3c"
    assert recording.stoi_score == pytest.approx(0.41) and isinstance(recording.stoi_score, float)
    assert recording.pesq_score == pytest.approx(1.2)
    assert recording.si_sdr_score == pytest.approx(3.5)  # sent as the documented si_dr_score
    assert recording.resemble_sample_score == pytest.approx(0.22)
    assert (recording.is_active, recording.is_outlier, recording.is_silent) == (True, True, False)
    assert event.data.error is not None and event.data.error.code == "dataset_issue"


def test_consent_failure_seed_is_a_consent_event_with_the_issue_as_error() -> None:
    event = normalize(load_fixture("resemble_consent_validation_failed.json"))
    assert event.type is EventType.CONSENT_FAILED
    assert event.data.error is not None
    assert event.data.error.message == "Consent statement issue description."


def test_ok_as_boolean_and_as_string_agree() -> None:
    as_string = load_fixture("resemble_dataset_issue.json")
    as_bool = {**as_string, "ok": False}
    assert normalize(as_string).data.ok is normalize(as_bool).data.ok is False


def test_correct_si_sdr_spelling_is_accepted_and_wins_over_the_misspelling() -> None:
    body = load_fixture("resemble_dataset_issue.json")
    recording = body["recordings"][0]
    recording["si_sdr_score"] = 9.75
    assert normalize(body).data.recordings[0].si_sdr_score == 9.75
    del recording["si_dr_score"]
    assert normalize(body).data.recordings[0].si_sdr_score == 9.75


def test_numeric_scores_and_boolean_flags_in_native_json_types() -> None:
    body = load_fixture("resemble_dataset_issue.json")
    body["recordings"][0].update(stoi_score=0.5, pesq_score=2, is_silent=True)
    recording = normalize(body).data.recordings[0]
    assert recording.stoi_score == 0.5
    assert recording.pesq_score == 2.0 and isinstance(recording.pesq_score, float)
    assert recording.is_silent is True


def test_missing_optional_fields_become_none_or_empty() -> None:
    event = normalize({"id": "v-1", "status": "dataset_issue", "recordings": [{"uuid": "r-1"}]})
    assert event.data.issue is None
    (recording,) = event.data.recordings
    assert recording.id == "r-1"
    assert recording.stoi_score is None and recording.is_silent is None
    assert normalize({"id": "v-1", "status": "finished"}).data.recordings == ()
    assert normalize({"id": "v-1", "status": "finished", "recordings": None}).data.recordings == ()


def test_ok_defaults_from_the_status_when_absent() -> None:
    assert normalize({"id": "v-1", "status": "finished"}).data.ok is True
    assert normalize({"id": "v-1", "status": "dataset_issue"}).data.ok is False


def test_unknown_fields_are_ignored_not_rejected() -> None:
    body = load_fixture("resemble_finished.json") | {"new_field": {"nested": 1}}
    body["recordings"] = [{"uuid": "r", "future_score": 1}]
    assert normalize(body).type is EventType.TRAINING_SUCCEEDED


def test_unknown_status_is_kept_as_a_status_change() -> None:
    event = normalize({"id": "v-1", "status": "queued_for_review", "ok": True})
    assert event.type is EventType.STATUS_CHANGED
    assert event.data.status == "queued_for_review"
    assert event.data.error is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "finished"}, "id"),
        ({"id": "v"}, "status"),
        ({"id": "", "status": "finished"}, "id"),
        ({"id": "v", "status": "finished", "ok": "maybe"}, "ok"),
        ({"id": "v", "status": "dataset_issue", "recordings": [{"stoi_score": "high"}]}, "recordings"),
        ({"id": "v", "status": "dataset_issue", "recordings": "none"}, "recordings"),
        ([{"id": "v"}], "_schema"),
    ],
)
def test_invalid_callbacks_name_the_field(body: object, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        resemble.validate_callback(body)
    assert field in info.value.messages


def test_event_survives_a_round_trip_through_its_cloudevent() -> None:
    event = normalize(load_fixture("resemble_dataset_issue.json"))
    assert Event.from_cloudevent(event.to_cloudevent()) == event


def test_dedupe_key_ignores_key_order_but_not_content() -> None:
    body = load_fixture("resemble_finished.json")
    reordered = dict(reversed(list(body.items())))
    assert resemble.dedupe_key(body) == resemble.dedupe_key(reordered)
    assert resemble.dedupe_key(body) != resemble.dedupe_key({**body, "issue": "x"})
