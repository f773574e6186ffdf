"""Every delivery and attempt on the record, routes steered by hand: the admin API and the command line."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import deliver_due, load_fixture, with_routes
from tests.sink import Reply, Sink
from webhook_app.cli import cli
from webhook_app.config.plugins import build_handlers
from webhook_app.model.retry import RetryPolicy
from webhook_app.model.routes import Route
from webhook_app.runtime.dispatch import Dispatcher


@pytest.fixture
def site(settings: Any, make_server_for: Any, sink: Sink) -> Any:
    """Slack (a real `slack` handler posting to the loopback sink), an ops route, and the log route."""
    routes = (
        Route(name="slack", handler="slack", options={"webhook_url": f"{sink.url}/slack"},
              retry=RetryPolicy(max_attempts=1)),
        Route(name="oncall", handler="log", events=("ops.*",)),
        Route(name="log", handler="log"),
    )  # fmt: skip
    configured = with_routes(settings, *routes)
    server = make_server_for(configured)
    dispatcher = Dispatcher(server.store, routes, build_handlers(routes, "test"), poll_interval=0.05)
    yield server, dispatcher, configured
    dispatcher.close()


def cli_env(settings: Any, tmp_path: Any) -> dict[str, str]:
    config = tmp_path / "routes.toml"
    config.write_text(
        '[[routes]]\nname = "slack"\nhandler = "slack"\n[routes.options]\nwebhook_url = "http://127.0.0.1:9/x"\n'
        '[[routes]]\nname = "oncall"\nhandler = "log"\nevents = ["ops.*"]\n'
        '[[routes]]\nname = "log"\nhandler = "log"\n'
    )
    return {
        "WEBHOOK_APP_DATABASE_URL": settings.database_url,
        "WEBHOOK_APP_DATA_DIR": settings.data_dir,
        "WEBHOOK_APP_CONFIG": str(config),
    }


def test_attempts_keep_the_status_code_duration_and_the_start_of_the_answer(site: Any, sink: Sink) -> None:
    server, dispatcher, _ = site
    sink.respond = lambda _: Reply(status=404, body=b"no_service " + b"x" * 5000)
    (event_id,) = server.post_callback(load_fixture("resemble_dataset_issue.json")).json()["event_ids"]
    deliver_due(dispatcher)
    detail = server.admin.get(f"/api/events/{event_id}").json()
    (slack,) = [d for d in detail["deliveries"] if d["route"] == "slack"]
    (attempt,) = slack["attempts"]
    assert attempt["outcome"] == "dead" and attempt["status_code"] == 404
    assert attempt["response"].startswith("no_service xxx") and len(attempt["response"]) == 1024
    assert isinstance(attempt["duration_ms"], int) and attempt["duration_ms"] >= 0
    (log,) = [d for d in detail["deliveries"] if d["route"] == "log"]
    assert log["attempts"][0]["status_code"] is None, "the log handler has no target to answer"

    sink.respond = lambda _: Reply(status=200, body=b"ok")
    server.admin.post(f"/api/events/{event_id}/replay", params={"route": "slack"})
    deliver_due(dispatcher)
    (_, replayed) = [
        d for d in server.admin.get(f"/api/events/{event_id}").json()["deliveries"] if d["route"] == "slack"
    ]
    assert replayed["attempts"][0]["status_code"] == 200 and replayed["attempts"][0]["response"] == "ok"


def test_events_carry_delivery_counts_and_deliveries_can_be_listed_and_filtered(
    site: Any, sink: Sink
) -> None:
    server, dispatcher, _ = site
    sink.respond = lambda _: Reply(status=410, body=b"channel_is_archived")
    (issue,) = server.post_callback(load_fixture("resemble_dataset_issue.json")).json()["event_ids"]
    (done,) = server.post_callback(load_fixture("resemble_finished.json")).json()["event_ids"]
    deliver_due(dispatcher)
    items = {e["id"]: e for e in server.admin.get("/api/events").json()["items"]}
    assert items[issue]["delivery_counts"] == {"pending": 0, "succeeded": 1, "failed": 0, "dead": 1}
    told = [e for e in items.values() if e["type"] == "ops.delivery.dead"]
    assert len(told) == 2, "one per dead delivery"
    assert all(
        e["delivery_counts"] == {"pending": 1, "succeeded": 0, "failed": 0, "dead": 0} for e in told
    ), "each waits for the ops route"

    dead = server.admin.get("/api/deliveries", params={"status": "dead"}).json()
    assert [(d["route"], d["event_type"], d["attempts"]) for d in dead["items"]] == [
        ("slack", "voice.training.succeeded", 1),
        ("slack", "voice.dataset.issue", 1),
    ]
    assert set(dead["items"][0]) == {
        "id", "event_id", "event_type", "voice_id", "route", "status", "attempts", "next_attempt_at",
        "last_error", "created_at", "updated_at", "resolved_by",
    }  # fmt: skip
    assert dead["items"][0]["event_id"] == done and "410" in dead["items"][0]["last_error"]
    typed = server.admin.get("/api/deliveries", params={"event_type": "voice.dataset.issue", "route": "log"})
    assert [d["event_id"] for d in typed.json()["items"]] == [issue]

    first = server.admin.get("/api/deliveries", params={"limit": 2}).json()
    rest = server.admin.get("/api/deliveries", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    everything = server.admin.get("/api/deliveries").json()["items"]
    assert [d["id"] for d in first["items"] + rest["items"]] == [d["id"] for d in everything][:4]
    bad = server.admin.get("/api/deliveries", params={"status": "lost"})
    assert bad.status_code == 400 and "status" in bad.json()["error"]["details"]
    assert server.admin.get("/api/deliveries", params={"cursor": "nope"}).status_code == 400


def test_routes_are_listed_paused_and_resumed_by_api_and_command_line(
    site: Any, sink: Sink, tmp_path: Any
) -> None:
    server, dispatcher, settings = site
    sink.respond = lambda _: Reply(status=200, body=b"ok")
    server.post_callback(load_fixture("resemble_dataset_issue.json"))
    deliver_due(dispatcher)
    routes = {r["name"]: r for r in server.admin.get("/api/routes").json()["items"]}
    assert list(routes) == ["log", "oncall", "slack"], "by name"
    slack = routes["slack"]
    assert (
        slack["state"] == "active" and slack["paused_reason"] is None and slack["consecutive_failures"] == 0
    )
    assert slack["counts"] == {"pending": 0, "failed": 0, "dead": 0}
    assert slack["last_24h"]["attempts"] == 1 and slack["last_24h"]["succeeded"] == 1
    assert slack["last_24h"]["p50_ms"] is not None and slack["last_success_at"] is not None

    paused = server.admin.post("/api/routes/slack/pause")
    assert paused.status_code == 200 and paused.json()["state"] == "paused"
    assert paused.json()["paused_reason"] == "manual"
    server.post_callback(load_fixture("resemble_finished.json"))
    deliver_due(dispatcher)
    assert route_item(server, "slack")["counts"]["pending"] == 1, "it waits"
    (told,) = server.admin.get("/api/events", params={"type": "ops.route.paused"}).json()["items"]
    assert told["data"]["reason"] == "manual" and told["subject"] == "slack"
    assert server.admin.post("/api/routes/nope/pause").status_code == 404

    env = cli_env(settings, tmp_path)
    listed = CliRunner().invoke(cli, ["routes", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert (
        "slack (slack, api v1): paused by hand; 1 pending, 0 to retry, 0 dead; last 24 h: 1/1 succeeded"
        in listed.output
    )
    resumed = CliRunner().invoke(cli, ["routes", "resume", "slack"], env=env)
    assert resumed.exit_code == 0 and "slack: active (ops.route.resumed evt_" in resumed.output
    again = CliRunner().invoke(cli, ["routes", "resume", "slack"], env=env)
    assert "already resumed" in again.output
    unknown = CliRunner().invoke(cli, ["routes", "pause", "nope"], env=env)
    assert unknown.exit_code == 1 and "No route named 'nope'; there are: log, oncall, slack" in unknown.output
    deliver_due(dispatcher)
    assert route_item(server, "slack")["counts"]["pending"] == 0, "the backlog went out"

    shown = CliRunner().invoke(cli, ["deliveries", "list", "--route", "slack"], env=env)
    lines = shown.output.splitlines()
    assert shown.exit_code == 0 and len(lines) == 2 and all("  succeeded  slack  " in line for line in lines)
    events = CliRunner().invoke(cli, ["events", "list", "--type", "voice.training.succeeded"], env=env)
    assert "deliveries: 2 succeeded" in events.output


def test_an_answer_with_nul_and_bad_bytes_is_kept_readable_and_the_attempt_recorded(
    site: Any, sink: Sink
) -> None:
    """PostgreSQL keeps no NUL in text: an answer holding one must not stop the attempt being recorded."""
    server, dispatcher, _ = site
    sink.respond = lambda _: Reply(status=503, body=b"\x00\x01busy\xff" + b"\x00" * 3000)
    (event_id,) = server.post_callback(load_fixture("resemble_dataset_issue.json")).json()["event_ids"]
    deliver_due(dispatcher)
    (slack,) = [
        d for d in server.admin.get(f"/api/events/{event_id}").json()["deliveries"] if d["route"] == "slack"
    ]
    (attempt,) = slack["attempts"]
    assert slack["status"] == "dead" and attempt["status_code"] == 503
    assert attempt["response"].startswith("\ufffd\x01busy\ufffd") and len(attempt["response"]) == 1024


def route_item(server: Any, name: str) -> dict[str, Any]:
    return next(item for item in server.admin.get("/api/routes").json()["items"] if item["name"] == name)
