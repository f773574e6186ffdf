"""Replay: a dead delivery, once the sink recovers, is delivered again by API and by CLI."""

from __future__ import annotations

import base64
import os
import re
import subprocess
from dataclasses import replace
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from tests.conftest import deliver_due, load_fixture, race, signed_in_page, with_routes
from tests.processes import BIN
from tests.sink import Reply, Sink
from webhook_app.cli import cli
from webhook_app.config.plugins import build_handlers
from webhook_app.model.retry import RetryPolicy
from webhook_app.model.routes import Route
from webhook_app.runtime.dispatch import Dispatcher
from webhook_app.store import EventFilters

SECRET = "whsec_" + base64.b64encode(b"replay-test-secret-0123456789").decode()


@pytest.fixture
def setup(settings: Any, make_server_for: Any, sink: Sink) -> Any:
    routes = (
        Route(
            name="partner",
            handler="forward",
            retry=RetryPolicy(max_attempts=1),
            options={"url": sink.url, "secret": SECRET, "allow_private_targets": True},
        ),
        Route(name="log", handler="log"),
    )
    server = make_server_for(with_routes(settings, *routes))
    dispatcher = Dispatcher(server.store, routes, build_handlers(routes, "test"), poll_interval=0.05)
    yield server, dispatcher, server.app.extensions["webhook_app"].settings
    dispatcher.close()


def deliveries_of(server: Any, event_id: str, route: str) -> list[dict[str, Any]]:
    return [
        d for d in server.admin.get(f"/api/events/{event_id}").json()["deliveries"] if d["route"] == route
    ]


def cli_env(settings: Any) -> dict[str, str]:
    return {"WEBHOOK_APP_DATABASE_URL": settings.database_url, "WEBHOOK_APP_DATA_DIR": settings.data_dir}


def partner_env(settings: Any, sink: Sink) -> dict[str, str]:
    """The command line's environment with the server's `partner` route in its config file."""
    path = f"{settings.data_dir}/routes.toml"
    with open(path, "w") as handle:
        handle.write(
            f'[[routes]]\nname = "partner"\nhandler = "forward"\n[routes.options]\nurl = "{sink.url}"\n'
            f'secret = "{SECRET}"\nallow_private_targets = true\n'
        )
    return {**cli_env(settings), "WEBHOOK_APP_CONFIG": path}


def test_dead_delivery_replayed_by_api_then_by_cli_keeps_every_history(setup: Any, sink: Sink) -> None:
    server, dispatcher, settings = setup
    sink.respond = lambda _: Reply(status=503, body=b"down")
    (event_id,) = server.post_callback(load_fixture("resemble_dataset_issue.json")).json()["event_ids"]
    deliver_due(dispatcher)
    (dead,) = deliveries_of(server, event_id, "partner")
    assert (
        dead["status"] == "dead"
        and dead["attempts"][0]["error"] == "gave up after 1 attempts: answered 503 down"
    )

    sink.respond = lambda _: Reply(status=200)
    answer = server.admin.post(f"/api/events/{event_id}/replay", params={"route": "partner"})
    assert answer.status_code == 202
    (created,) = answer.json()["deliveries"]
    assert (
        created["route"] == "partner"
        and created["replay_of"] == dead["id"]
        and created["status"] == "pending"
    )
    deliver_due(dispatcher)

    # And once more from the command line (its config has the same routes through the env).
    config = f'[[routes]]\nname = "partner"\nhandler = "forward"\n[routes.options]\nurl = "{sink.url}"\n'
    config += f'secret = "{SECRET}"\nallow_private_targets = true\n'
    path = f"{settings.data_dir}/routes.toml"
    with open(path, "w") as handle:
        handle.write(config)
    result = CliRunner().invoke(
        cli, ["events", "replay", event_id], env={**cli_env(settings), "WEBHOOK_APP_CONFIG": path}
    )
    assert result.exit_code == 0, result.output
    assert "partner  pending" in result.output
    deliver_due(dispatcher)

    history = deliveries_of(server, event_id, "partner")
    assert [d["status"] for d in history] == ["dead", "succeeded", "succeeded"]
    assert [[a["outcome"] for a in d["attempts"]] for d in history] == [
        ["dead"],
        ["succeeded"],
        ["succeeded"],
    ]
    assert history[2]["replay_of"] == history[1]["id"]
    assert len(sink.requests) == 3
    assert {r.headers["webhook-id"] for r in sink.requests} == {event_id}, "the same id on every replay"


def test_replay_without_route_goes_to_every_matching_route(setup: Any) -> None:
    server, _, _ = setup
    (event_id,) = server.post_callback(load_fixture("resemble_finished.json")).json()["event_ids"]
    answer = server.admin.post(f"/api/events/{event_id}/replay").json()
    assert sorted(d["route"] for d in answer["deliveries"]) == ["log", "partner"]


def test_replay_of_unknown_event_or_route_is_404(setup: Any) -> None:
    server, _, _ = setup
    assert server.admin.post("/api/events/evt_nope/replay").status_code == 404
    (event_id,) = server.post_callback(load_fixture("resemble_finished.json")).json()["event_ids"]
    answer = server.admin.post(f"/api/events/{event_id}/replay", params={"route": "pagerduty"})
    assert answer.status_code == 404 and "No route named 'pagerduty'" in answer.json()["error"]["message"]
    assert server.http.post(f"/api/events/{event_id}/replay").status_code == 401


def test_bulk_retry_replays_each_dead_delivery_once(setup: Any, sink: Sink) -> None:
    server, dispatcher, settings = setup
    sink.respond = lambda _: Reply(status=500)
    for n in range(3):
        server.post_callback({"id": f"voice-{n}", "status": "dataset_issue"})
    deliver_due(dispatcher)
    runner = CliRunner()
    env = partner_env(settings, sink)
    result = runner.invoke(
        cli, ["deliveries", "retry", "--status", "dead", "--route", "partner", "--yes"], env=env
    )
    assert result.exit_code == 0, result.output
    assert "3 deliveries queued again" in result.output
    again = runner.invoke(
        cli, ["deliveries", "retry", "--status", "dead", "--route", "partner", "--yes"], env=env
    )
    assert "no dead deliveries to retry" in again.output
    (entry,) = server.admin.get("/api/audit", params={"action": "deliveries.retry"}).json()["items"]
    assert entry["target"] == "partner" and entry["actor"].startswith("cli:")
    assert entry["details"] == {"status": "dead", "route": "partner", "queued": 3}
    sink.respond = lambda _: Reply(status=200)
    deliver_due(dispatcher)
    assert server.store.reads.delivery_status_counts() == {"dead": 3, "succeeded": 6}
    future = runner.invoke(cli, ["deliveries", "retry", "--since", "2999-01-01T00:00:00", "--yes"], env=env)
    assert "no dead deliveries" in future.output
    bad = runner.invoke(cli, ["deliveries", "retry", "--since", "last tuesday"], env=env)
    assert bad.exit_code == 2 and "neither a duration" in bad.output


def test_routes_check_sends_a_test_event_through_each_route(
    settings: Any, store: Any, sink: Sink, tmp_path: Any
) -> None:
    config = tmp_path / "routes.toml"
    config.write_text(
        '[[routes]]\nname = "ops-slack"\nhandler = "slack"\nevents = ["voice.consent.*"]\n'
        f'[routes.options]\nwebhook_url = "{sink.url}/slack"\n'
        '[[routes]]\nname = "broken"\nhandler = "slack"\n'
        '[routes.options]\nwebhook_url = "http://127.0.0.1:9/nothing-listens"\ntimeout_seconds = 1\n'
    )
    env = {"WEBHOOK_APP_DATA_DIR": str(tmp_path), "WEBHOOK_APP_DATABASE_URL": settings.database_url}
    applied = CliRunner().invoke(cli, ["routes", "apply", str(config), "--yes"], env=env)
    assert applied.exit_code == 0 and "+ ops-slack\n+ broken\n" in applied.output, applied.output
    checked = CliRunner().invoke(cli, ["routes", "check"], env=env)
    assert checked.exit_code == 0 and "2 route(s)" in checked.output and sink.requests == []
    only = CliRunner().invoke(cli, ["routes", "check", "--send-test", "--route", "ops-slack"], env=env)
    assert only.exit_code == 0, only.output
    assert "test voice.consent.failed evt_" in only.output and "FAILED" not in only.output
    tested = CliRunner().invoke(cli, ["routes", "check", "--send-test"], env=env)
    assert tested.exit_code == 1
    assert re.search(r"test voice.consent.failed evt_\w+: delivered", tested.output)
    assert re.search(
        r"test voice.dataset.issue evt_\w+: FAILED \(RetryableError: could not connect", tested.output
    )
    request = sink.requests[-1]
    assert request.path == "/slack"
    assert request.json()["blocks"][0]["text"]["text"] == "⛔ TEST: Consent validation failed"
    assert "TEST" in request.json()["text"]
    recorded, _ = store.reads.list_events(EventFilters(), limit=10)
    assert len(recorded) == 3 and all(event["test"] is True for event in recorded), "kept like any event"
    assert store.reads.delivery_status_counts() == {}, "no delivery: the command made the call itself"
    unknown = CliRunner().invoke(cli, ["routes", "check", "--send-test", "--route", "nope"], env=env)
    assert unknown.exit_code == 2 and "no route named 'nope'" in unknown.output


def test_routes_apply_reports_a_bad_config_and_changes_nothing(
    settings: Any, store: Any, tmp_path: Any
) -> None:
    config = tmp_path / "routes.toml"
    config.write_text(
        '[[routes]]\nname = "ops"\nhandler = "slack"\n[routes.options]\nwebhook_url = "not a url"\n'
    )
    result = CliRunner().invoke(cli, ["routes", "apply", str(config), "--yes"], env=cli_env(settings))
    assert result.exit_code == 1
    assert f"{config}: route 'ops': field 'options.webhook_url': Not a valid URL." in result.output
    assert store.routes.all() == (0, [])


def test_settings_unchanged_by_replace(settings: Any) -> None:
    assert replace(settings).routes == settings.routes


def _dead_deliveries(server: Any, dispatcher: Any, sink: Sink, count: int) -> None:
    sink.respond = lambda _: Reply(status=500)
    for n in range(count):
        server.post_callback({"id": f"racing-voice-{n}", "status": "dataset_issue"})
    while deliver_due(dispatcher):
        pass
    assert server.store.reads.delivery_status_counts()["dead"] == count


def _replays(server: Any) -> list[str]:
    with server.store.reading() as conn:
        rows = conn.exec_driver_sql("SELECT replay_of FROM deliveries WHERE replay_of IS NOT NULL").all()
    return [row[0] for row in rows]


def test_six_racing_replay_dead_presses_replay_each_dead_delivery_once(setup: Any, sink: Sink) -> None:
    """Was: six tabs pressing "Replay dead" queued every dead delivery once per press."""
    server, dispatcher, _ = setup
    _dead_deliveries(server, dispatcher, sink, 10)
    signed_in, csrf = signed_in_page(server, "/ui/routes/partner")

    def press(_: int) -> str:
        with httpx.Client(base_url=server.url, cookies=signed_in.cookies, timeout=30) as tab:
            answer = tab.post("/ui/routes/partner/replay-dead", data={"csrf": csrf}, follow_redirects=True)
        assert answer.status_code == 200, answer.text[:300]
        return str(re.findall(r"[^>]*queued again[^<]*|No dead deliveries[^<]*", answer.text)[0])

    flashes = race(6, press)
    replays = _replays(server)
    assert len(replays) == 10 and len(set(replays)) == 10
    assert sum("No dead deliveries of partner were left to replay" in text for text in flashes) >= 1, flashes
    sink.respond = lambda _: Reply(status=200)
    while deliver_due(dispatcher):
        pass
    assert len(sink.requests) == 10 + 10, "each event once more, not once per press"


def test_two_racing_retry_commands_replay_each_dead_delivery_once(setup: Any, sink: Sink) -> None:
    server, dispatcher, settings = setup
    _dead_deliveries(server, dispatcher, sink, 15)
    command = [str(BIN / "webhook-app"), "deliveries", "retry", "--route", "partner", "--yes"]
    env = {**os.environ, **partner_env(settings, sink)}
    runs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)
    ]
    outputs = [run.communicate(timeout=60)[0].decode() for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    replays = _replays(server)
    assert len(replays) == 15 and len(set(replays)) == 15, outputs
    queued = [int(m.group(1)) for text in outputs if (m := re.search(r"(\d+) deliveries queued again", text))]
    assert sum(queued) == 15, outputs


def test_racing_replays_of_one_event_queue_one_delivery(setup: Any, sink: Sink) -> None:
    server, dispatcher, _ = setup
    _dead_deliveries(server, dispatcher, sink, 1)
    (event,) = server.admin.get("/api/events", params={"type": "voice.dataset.issue"}).json()["items"]
    answers = race(
        6, lambda _: server.admin.post(f"/api/events/{event['id']}/replay", params={"route": "partner"})
    )
    assert sorted(a.status_code for a in answers) == [202, 409, 409, 409, 409, 409], [a.text for a in answers]
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {"already_replayed"}
    assert len(_replays(server)) == 1


def test_a_dead_delivery_whose_replay_succeeded_is_resolved_everywhere(setup: Any, sink: Sink) -> None:
    """Was: after three dead deliveries were replayed successfully, the route still said "Dead 3",
    the dashboard card stayed, and /ui/dead listed them with live Replay buttons."""
    server, dispatcher, _ = setup
    _dead_deliveries(server, dispatcher, sink, 3)
    sink.respond = lambda _: Reply(status=200)
    replayed = [
        server.admin.post(f"/api/events/{e['id']}/replay", params={"route": "partner"}).json()["deliveries"][
            0
        ]
        for e in server.admin.get("/api/events", params={"type": "voice.dataset.issue"}).json()["items"]
    ]
    assert server.admin.get("/api/stats").json()["attention"]["dead_deliveries"] == 3, (
        "pending: not yet fixed"
    )
    while deliver_due(dispatcher):
        pass
    assert server.admin.get("/api/deliveries", params={"status": "dead"}).json()["items"] == []
    resolved = server.admin.get("/api/deliveries", params={"status": "dead", "resolved": "true"}).json()[
        "items"
    ]
    assert sorted(d["resolved_by"] for d in resolved) == sorted(r["id"] for r in replayed)
    assert server.admin.get("/api/stats").json()["attention"]["dead_deliveries"] == 0
    (partner,) = [r for r in server.admin.get("/api/routes").json()["items"] if r["name"] == "partner"]
    assert partner["counts"]["dead"] == 0
    page, _ = signed_in_page(server, "/ui/")
    dead = page.get("/ui/dead").text
    assert "No dead deliveries need attention." in dead and ">Replay</button>" not in dead
    fixed = page.get("/ui/dead", params={"resolved": "1"}).text
    assert all(f"#{r['id']}" in fixed for r in replayed), "each links to the replay that fixed it"


def test_a_paused_route_says_so_where_its_deliveries_wait(setup: Any, sink: Sink) -> None:
    """Was: "pending — next <a time already past>" on the event page while the route was paused."""
    server, dispatcher, _ = setup
    assert server.admin.post("/api/routes/partner/pause").status_code == 200
    (event_id,) = server.post_callback({"id": "waiting-voice", "status": "finished"}).json()["event_ids"]
    deliver_due(dispatcher)
    page, _ = signed_in_page(server, "/ui/")
    for path in (f"/ui/events/{event_id}", "/ui/voices/resemble/waiting-voice"):
        text = page.get(path).text
        assert (
            "waiting: route" in text and 'href="/ui/routes/partner">partner</a> is paused (by hand)' in text
        )
        assert "until someone resumes it" in text, path


def test_retrying_deliveries_of_a_route_no_longer_configured_is_refused(setup: Any, sink: Sink) -> None:
    """Was: a warning, then replays queued to a route the server no longer has, dead at once."""
    server, dispatcher, settings = setup
    _dead_deliveries(server, dispatcher, sink, 2)
    assert server.admin.delete("/api/routes/partner").status_code == 204  # dead ones do not wait
    env = cli_env(settings)
    result = CliRunner().invoke(cli, ["deliveries", "retry", "--yes"], env=env)
    assert result.exit_code == 1 and "route(s) partner no longer configured" in result.output
    assert _replays(server) == []
