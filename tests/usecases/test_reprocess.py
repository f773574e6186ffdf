"""`receipts reprocess`: rejected receipts are kept so they can become events later."""

from __future__ import annotations

import json
from typing import Any

import httpx
from click.testing import CliRunner

from tests.conftest import load_fixture, race, signed_in_page
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
    assert (
        again.exit_code == 0
        and f"was already reprocessed (it is accepted); its events: {event_id}" in again.output
    )
    assert run(settings, "rcpt_nope").exit_code == 1


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


def test_receipts_are_listed_newest_first_with_why_they_were_refused(server: Any, settings: Any) -> None:
    accepted = server.post_callback(load_fixture("resemble_finished.json"))
    wrong_type = server.post_callback(json.dumps(load_fixture("resemble_dataset_issue.json")),
                                      headers={"Content-Type": "text/plain"})  # fmt: skip
    no_id = server.post_callback({"status": "finished"})
    page = server.admin.get("/api/receipts").json()
    assert [r["id"] for r in page["items"]] == [
        no_id.headers["X-Receipt-Id"], wrong_type.headers["X-Receipt-Id"], accepted.json()["receipt_id"]
    ]  # fmt: skip
    newest = page["items"][0]
    assert set(newest) == {"id", "provider", "state", "received_at", "error"}
    assert newest["state"] == "rejected" and newest["error"]["code"] == "invalid_callback"
    assert newest["error"]["details"] == {"id": ["Missing data for required field."]}
    rejected = server.admin.get("/api/receipts", params={"state": "rejected", "limit": 1}).json()
    assert [r["id"] for r in rejected["items"]] == [no_id.headers["X-Receipt-Id"]]
    older = server.admin.get("/api/receipts", params={"state": "rejected", "cursor": rejected["next_cursor"]})
    assert [r["error"]["code"] for r in older.json()["items"]] == ["unsupported_media_type"]
    assert server.admin.get("/api/receipts", params={"state": "lost"}).status_code == 400
    assert server.admin.get("/api/receipts", params={"provider": "elevenlabs"}).status_code == 400

    env = {"WEBHOOK_APP_DATABASE_URL": settings.database_url, "WEBHOOK_APP_DATA_DIR": settings.data_dir}
    listed = CliRunner().invoke(cli, ["receipts", "list", "--state", "rejected"], env=env)
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert len(lines) == 2 and "invalid_callback: The callback does not match" in lines[0]
    assert "unsupported_media_type: Send the callback as application/json." in lines[1]


def test_six_racing_reprocess_presses_record_one_set_of_events(server: Any) -> None:
    """Was: 3-6 events for one receipt on PostgreSQL, and 500s on SQLite."""
    body = json.dumps(load_fixture("resemble_dataset_issue.json"))
    receipt_id = server.post_callback(body, headers={"Content-Type": "text/plain"}).headers["X-Receipt-Id"]

    def press(_: int) -> httpx.Response:
        with httpx.Client(base_url=server.url, headers=server.admin.headers, timeout=30) as admin:
            return admin.post(f"/api/receipts/{receipt_id}/reprocess")

    answers = race(6, press)
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409, 409, 409], [a.text for a in answers]
    (won,) = [a.json() for a in answers if a.status_code == 201]
    lost = [a.json()["error"] for a in answers if a.status_code == 409]
    assert all(e["code"] == "already_reprocessed" and won["event_ids"][0] in e["message"] for e in lost)
    assert [e["id"] for e in server.admin.get("/api/events").json()["items"]] == won["event_ids"]
    (entry,) = server.admin.get("/api/audit", params={"action": "receipt.reprocess"}).json()["items"]
    assert (entry["target"], entry["actor"], entry["details"]) == (
        receipt_id,
        "env-1",
        {"events": won["event_ids"]},
    )


def test_racing_reprocess_presses_on_the_page_never_fail(server: Any) -> None:
    receipt_id = server.post_callback(
        json.dumps(load_fixture("resemble_finished.json")), headers={"Content-Type": "text/plain"}
    ).headers["X-Receipt-Id"]
    signed_in, csrf = signed_in_page(server, f"/ui/receipts/{receipt_id}")

    def press(_: int) -> httpx.Response:
        with httpx.Client(base_url=server.url, cookies=signed_in.cookies, timeout=30) as tab:
            return tab.post(f"/ui/receipts/{receipt_id}/reprocess", data={"csrf": csrf})

    pages = race(6, press)
    assert [p.status_code for p in pages] == [302] * 6, [p.text[:200] for p in pages]
    assert len(server.admin.get("/api/events").json()["items"]) == 1
    assert server.admin.post("/api/receipts/rcpt_nope/reprocess").status_code == 404
