"""The rollups behind the voices list and the dashboard: `/api/voices`, `/api/stats`, `voices list`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from tests.conftest import ADMIN_TOKEN, deliver_due, with_routes
from tests.sink import Reply, Sink
from webhook_app.cli import cli
from webhook_app.config.plugins import build_handlers
from webhook_app.model.events import Event, EventData, EventType
from webhook_app.model.retry import RetryPolicy
from webhook_app.model.routes import Route
from webhook_app.runtime.dispatch import Dispatcher
from webhook_app.store import NewReceipt
from webhook_app.usecases.ingest import record_events

LATER = timedelta(seconds=30)  # past SETTLE: every row written so far counts


@pytest.fixture
def site(settings: Any, make_server_for: Any, sink: Sink) -> Any:
    routes = (
        Route(name="partner", handler="tests.sink_handlers:SinkHandler",
              options={"url": f"{sink.url}/partner"}, retry=RetryPolicy(max_attempts=1)),
        Route(name="log", handler="log"),
    )  # fmt: skip
    configured = with_routes(settings, *routes)
    server = make_server_for(configured)
    dispatcher = Dispatcher(server.store, routes, build_handlers(routes, "test"))
    yield server, dispatcher, configured
    dispatcher.close()


def post(server: Any, voice: str, status: str, **extra: Any) -> str:
    answer = server.post_callback({"id": voice, "status": status, **extra})
    assert answer.status_code == 202, answer.text
    return str(answer.json()["event_ids"][0])


def test_voices_are_listed_by_latest_activity_with_their_state(site: Any, settings: Any) -> None:
    server, _, _ = site
    post(server, "narrator-7", "processing")
    post(server, "villain-2", "finished")
    post(server, "narrator-7", "dataset_issue")
    post(server, "reader-1", "consent_validation_failed")
    store = server.store
    assert store.rollups.roll_up(now=datetime.now(UTC)) == 0, "nothing settled yet"
    assert server.admin.get("/api/voices").json()["items"] == []
    assert store.rollups.roll_up(now=datetime.now(UTC) + LATER) > 0
    assert store.rollups.roll_up(now=datetime.now(UTC) + LATER) == 0, "each row is rolled up once"
    post(server, "villain-2", "dataset_issue")  # a voice seen in an earlier round
    post(server, "villain-2", "finished", issue="trained again")
    assert store.rollups.roll_up(now=datetime.now(UTC) + LATER) == 2

    items = server.admin.get("/api/voices").json()["items"]
    assert [(v["voice_id"], v["status"], v["last_event_type"], v["events"]) for v in items] == [
        ("villain-2", "finished", "voice.training.succeeded", 3),
        ("reader-1", "consent_validation_failed", "voice.consent.failed", 1),
        ("narrator-7", "dataset_issue", "voice.dataset.issue", 2),
    ]
    assert set(items[0]) == {"provider", "voice_id", "status", "last_event_type", "last_event_at",
                             "first_seen_at", "events", "name", "kind", "test"}  # fmt: skip
    narrator = items[2]
    assert narrator["first_seen_at"] < narrator["last_event_at"]
    assert [v["voice_id"] for v in server.admin.get("/api/voices", params={"q": "rat"}).json()["items"]] == [
        "narrator-7"
    ]
    typed = server.admin.get("/api/voices", params={"type": "voice.dataset.issue"}).json()["items"]
    assert [v["voice_id"] for v in typed] == ["narrator-7"]
    assert items[0]["first_seen_at"] < items[0]["last_event_at"], "first seen in the first round"
    assert server.admin.get("/api/voices", params={"q": "%"}).json()["items"] == [], "% is a character"
    first = server.admin.get("/api/voices", params={"limit": 2}).json()
    rest = server.admin.get("/api/voices", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [v["voice_id"] for v in first["items"] + rest["items"]] == [v["voice_id"] for v in items]
    assert server.admin.get("/api/voices", params={"cursor": "x"}).status_code == 400

    env = {"WEBHOOK_APP_DATABASE_URL": settings.database_url, "WEBHOOK_APP_DATA_DIR": settings.data_dir}
    listed = CliRunner().invoke(cli, ["voices", "list", "--search", "narrator"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "resemble   narrator-7  dataset_issue  voice.dataset.issue  2 event(s)" in listed.output


def test_stats_count_events_and_outcomes_per_bucket_and_say_what_needs_attention(
    site: Any, sink: Sink
) -> None:
    server, dispatcher, _ = site
    sink.respond = lambda request: Reply(status=503) if "voice-2" in request.body.decode() else Reply()
    for n in range(3):
        post(server, f"voice-{n}", "dataset_issue")
    post(server, "voice-9", "finished")
    server.post_callback({"status": "finished"})  # rejected: no id
    deliver_due(dispatcher)
    server.admin.post("/api/routes/log/pause")
    server.store.rollups.roll_up(now=datetime.now(UTC) + LATER)

    stats = server.admin.get("/api/stats", params={"window": "24h"}).json()
    assert stats["window"] == "24h" and stats["bucket_seconds"] == 3600
    by_type: dict[str, int] = {}
    for row in stats["events"]:
        by_type[row["type"]] = by_type.get(row["type"], 0) + row["count"]
    assert by_type == {"voice.dataset.issue": 3, "voice.training.succeeded": 1, "ops.delivery.dead": 1,
                       "ops.route.paused": 1}  # fmt: skip
    partner = [row for row in stats["deliveries"] if row["route"] == "partner"]
    assert sum(r["succeeded"] for r in partner) == 3 and sum(r["dead"] for r in partner) == 1
    routes = {r["route"]: r for r in stats["routes"]}
    assert (
        routes["partner"]["p50_ms"] is not None and routes["partner"]["p99_ms"] >= routes["partner"]["p50_ms"]
    )
    assert stats["attention"] == {
        "dead_deliveries": 1,
        "paused_routes": ["log"],
        "azure_operations": {"stalled": 0, "error": 0},
        "rejected_receipts": 1,
    }
    week = server.admin.get("/api/stats", params={"window": "7d"}).json()
    assert week["bucket_seconds"] == 6 * 3600 and sum(r["count"] for r in week["events"]) == 6
    assert server.admin.get("/api/stats", params={"window": "1y"}).status_code == 400


def test_voices_show_their_name_label_consents_and_hide_test_voices(site: Any) -> None:
    """Was: a voice made with `create-voice --name` showed only its uuid, consents were listed as
    voices, and test events from `routes check --send-test` cluttered the list."""
    server, _, _ = site
    now = datetime.now(UTC)
    named = EventData(
        provider="resemble", voice_id="5f1d-uuid", status="initializing", ok=True, voice_name="Chef"
    )
    consent = EventData(
        provider="azure", voice_id="Jessica", status="Succeeded", ok=True, resource_kind="consent"
    )
    trial = EventData(provider="resemble", voice_id="test-voice-1", status="finished", ok=True)
    for data, test in ((named, False), (consent, False), (trial, True)):
        event = Event(type=EventType.STATUS_CHANGED, source="/t", time=now, data=data, test=test)
        receipt = NewReceipt(provider=data.provider, received_at=now, body=b"{}", headers={})
        record_events(server.store, (), receipt, [event], dedupe_key=None, dedupe_window=timedelta(0))
    server.store.rollups.roll_up(now=now + LATER)
    listed = {v["voice_id"]: v for v in server.admin.get("/api/voices").json()["items"]}
    assert set(listed) == {"5f1d-uuid", "Jessica"}, "the test voice is hidden"
    assert listed["5f1d-uuid"]["name"] == "Chef" and listed["Jessica"]["kind"] == "consent"
    everything = server.admin.get("/api/voices", params={"tests": "true"}).json()["items"]
    assert {v["voice_id"]: v["test"] for v in everything}["test-voice-1"] is True
    assert [v["voice_id"] for v in server.admin.get("/api/voices", params={"q": "che"}).json()["items"]] == [
        "5f1d-uuid"
    ], "found by its name"
    page = httpx.Client(base_url=server.url, timeout=10)
    page.post("/ui/login", data={"token": ADMIN_TOKEN})
    voices = page.get("/ui/voices").text
    assert "<strong>Chef</strong>" in voices and '<span class="badge">consent</span>' in voices
    assert (
        "test-voice-1" not in voices and "test-voice-1" in page.get("/ui/voices", params={"tests": "1"}).text
    )
    assert "Chef · resemble voice 5f1d-uuid" in page.get("/ui/voices/resemble/5f1d-uuid").text
