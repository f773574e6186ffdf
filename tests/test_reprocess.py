"""`receipts reprocess`: rejected receipts are kept so they can become events later."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from tests.conftest import load_fixture
from webhook_app.cli import cli


def run(settings: Any, *receipt_ids: str) -> Any:
    env = {"WEBHOOK_APP_DATABASE_URL": settings.database_url, "WEBHOOK_APP_DATA_DIR": settings.data_dir}
    return CliRunner().invoke(cli, ["receipts", "reprocess", *receipt_ids], env=env)


def test_a_callback_rejected_for_its_content_type_becomes_an_event(server: Any, settings: Any) -> None:
    body = json.dumps(load_fixture("resemble_dataset_issue.json"))
    rejected = server.post_callback(body, headers={"Content-Type": "text/plain"})
    assert rejected.status_code == 415
    receipt_id = rejected.headers["X-Receipt-Id"]
    result = run(settings, receipt_id)
    assert result.exit_code == 0, result.output
    assert f"{receipt_id}: accepted, events evt_" in result.output
    receipt = server.admin.get(f"/api/receipts/{receipt_id}").json()
    assert receipt["status"] == "accepted" and receipt["reason"] is None
    (event_id,) = receipt["event_ids"]
    event = server.admin.get(f"/api/events/{event_id}").json()
    assert event["type"] == "voice.dataset.issue" and event["deliveries"][0]["status"] == "pending"
    again = run(settings, receipt_id)
    assert again.exit_code == 1 and "No rejected receipt" in again.output


def test_a_receipt_that_is_still_invalid_stays_rejected(server: Any, settings: Any) -> None:
    receipt_id = server.post_callback({"status": "finished"}).headers["X-Receipt-Id"]
    result = run(settings, receipt_id)
    assert result.exit_code == 1 and "Still not a valid callback: field 'id'" in result.output
    assert server.admin.get(f"/api/receipts/{receipt_id}").json()["status"] == "rejected"


def test_reprocessing_what_was_accepted_meanwhile_records_nothing(server: Any, settings: Any) -> None:
    body = load_fixture("resemble_finished.json")
    receipt_id = server.post_callback(json.dumps(body), headers={"Content-Type": "text/plain"}).headers[
        "X-Receipt-Id"
    ]
    accepted = server.post_callback(body).json()
    result = run(settings, receipt_id)
    assert result.exit_code == 0 and f"duplicate of {accepted['receipt_id']}" in result.output
    assert len(server.admin.get("/api/events").json()["items"]) == 1
