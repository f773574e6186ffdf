"""Routes as data: made, changed and removed over the API and the command line, their secrets
sealed at rest and masked on show, every change once, and what each process uses."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.conftest import ADMIN_TOKEN, RESEMBLE_TOKENS, deliver_due, load_fixture, postgres_schema, race
from tests.dumps import database_dump
from tests.sink import Reply, Sink
from webhook_app.cli import cli
from webhook_app.config.settings import Settings
from webhook_app.runtime.dispatch import Dispatcher
from webhook_app.store.tables import routes as routes_table
from webhook_app.telemetry.logs import Redactor
from webhook_app.usecases.route_book import CHECK_SECONDS, LiveRoutes

SLACK_URL_PATH = "/services/T000/B000/sEcReT-PaTh-0123456789"


def slack_route(sink: Sink, name: str = "alerts") -> dict[str, Any]:
    return {
        "name": name,
        "handler": "slack",
        "events": ["voice.*"],
        "options": {"webhook_url": f"{sink.url}{SLACK_URL_PATH}"},
    }


def cli_env(settings: Any, **more: str) -> dict[str, str]:
    return {
        "WEBHOOK_APP_DATABASE_URL": settings.database_url,
        "WEBHOOK_APP_DATA_DIR": settings.data_dir,
        **more,
    }


def test_a_route_made_over_the_api_is_listed_whole_with_its_secret_masked(server: Any, sink: Sink) -> None:
    made = server.admin.post("/api/routes", json=slack_route(sink))
    assert made.status_code == 201, made.text
    item = made.json()
    assert item["source"] == "api" and item["version"] == 1 and item["updated_by"] == "env-1"
    assert item["options"] == {"webhook_url": "••••"} and item["events"] == ["voice.*"]
    assert item["retry"]["max_attempts"] == 8 and item["pause_after_failures"] == 20, "defaults filled in"
    listed = {i["name"]: i for i in server.admin.get("/api/routes").json()["items"]}
    assert set(listed) == {"log", "alerts"} and listed["alerts"]["options"] == {"webhook_url": "••••"}
    assert SLACK_URL_PATH not in server.admin.get("/api/routes").text
    shown = CliRunner().invoke(cli, ["routes", "show", "alerts"], env=cli_env(server.settings))
    assert shown.exit_code == 0 and "••••" in shown.output and SLACK_URL_PATH not in shown.output
    again = server.admin.post("/api/routes", json=slack_route(sink))
    assert again.status_code == 409 and again.json()["error"]["code"] == "route_exists"


def test_a_route_the_config_file_would_refuse_is_refused_field_by_field(server: Any, sink: Sink) -> None:
    bad = {**slack_route(sink), "retry": {"max_attempts": 0}, "options": {"webhook_url": "not a url"}}
    answer = server.admin.post("/api/routes", json=bad)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_route"
    assert set(error["details"]) == {"retry.max_attempts", "options.webhook_url"}, "every field at once"
    options = server.admin.post(
        "/api/routes", json={**slack_route(sink), "options": {"webhook_url": "not a url"}}
    )
    assert options.status_code == 422 and options.json()["error"]["details"] == {
        "options.webhook_url": ["Not a valid URL."]
    }
    unknown = server.admin.post("/api/routes", json={**slack_route(sink), "colour": "red"})
    assert unknown.status_code == 422 and unknown.json()["error"]["details"] == {"colour": ["unknown field."]}
    assert server.admin.post("/api/routes", content=b"[]").status_code == 400
    assert [i["name"] for i in server.admin.get("/api/routes").json()["items"]] == ["log"]


@pytest.mark.parametrize("handler", [":Handler", ".relative:Handler", "\udab6\udc4a:X", "a\x00b:X"])
def test_a_handler_path_python_cannot_import_is_refused_not_a_500(
    server: Any, sink: Sink, handler: str
) -> None:
    """Was: an empty or relative module name raised ValueError / TypeError from importlib: a 500
    (found by schemathesis with `:\udab6\udc4a…`)."""
    # Escaped JSON: a lone surrogate travels as \\udab6, as schemathesis sent it.
    body = json.dumps({**slack_route(sink), "handler": handler})
    answer = server.admin.post("/api/routes", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "invalid_route"


def test_a_change_needs_the_current_version_and_keeps_a_secret_left_out(server: Any, sink: Sink) -> None:
    server.admin.post("/api/routes", json=slack_route(sink))
    changed = server.admin.patch(
        "/api/routes/alerts",
        json={"version": 1, "events": ["voice.training.*"], "options": {"timeout_seconds": 3}},
    )
    assert changed.status_code == 200, changed.text
    item = changed.json()
    assert item["version"] == 2 and item["events"] == ["voice.training.*"]
    assert item["options"] == {"webhook_url": "••••", "timeout_seconds": 3}
    stale = server.admin.patch("/api/routes/alerts", json={"version": 1, "events": ["*"]})
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale_version"
    assert server.admin.patch("/api/routes/alerts", json={"events": ["*"]}).status_code == 400
    assert server.admin.patch("/api/routes/nope", json={"version": 1}).status_code == 404
    renamed = server.admin.patch("/api/routes/alerts", json={"version": 2, "name": "other"})
    assert renamed.status_code == 422 and "name" in renamed.json()["error"]["details"]

    (route,) = [r for r in server.app.extensions["webhook_app"].routes.refresh().routes if r.name == "alerts"]
    assert route.options["webhook_url"] == f"{sink.url}{SLACK_URL_PATH}", "the secret kept its value"


def test_racing_changes_at_one_version_make_one_change(server: Any, sink: Sink) -> None:
    server.admin.post("/api/routes", json=slack_route(sink))

    def change(n: int) -> int:
        return server.admin.patch(
            "/api/routes/alerts", json={"version": 1, "rate_limit": f"{n + 1}/s"}
        ).status_code

    assert sorted(race(6, change)) == [200, 409, 409, 409, 409, 409]
    (item,) = [i for i in server.admin.get("/api/routes").json()["items"] if i["name"] == "alerts"]
    assert item["version"] == 2

    def create(_: int) -> int:
        return server.admin.post("/api/routes", json=slack_route(sink, "twice")).status_code

    assert sorted(race(6, create)) == [201, 409, 409, 409, 409, 409]


def test_the_database_holds_no_secret_in_the_clear(server: Any, sink: Sink) -> None:
    forward = {
        "name": "partner",
        "handler": "forward",
        "options": {
            "url": sink.url,
            "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "allow_private_targets": True,
        },
    }
    assert server.admin.post("/api/routes", json=forward).status_code == 201
    assert server.admin.post("/api/routes", json=slack_route(sink)).status_code == 201
    email = {
        "name": "mail",
        "handler": "email",
        "options": {
            "host": "127.0.0.1",
            "from": "a@example.com",
            "to": ["b@example.com"],
            "username": "alerts",
            "password": "hunter2-Pa55",
        },
    }
    assert server.admin.post("/api/routes", json=email).status_code == 201
    with server.store.reading() as conn:
        stored = json.dumps([dict(row) for row in conn.execute(sa.select(routes_table.c.options)).mappings()])
    for secret in ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", SLACK_URL_PATH, "hunter2-Pa55"):
        assert secret not in stored
    assert "sealed" in stored
    dumped = database_dump(server.settings.database_url)
    for secret in ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", SLACK_URL_PATH, "hunter2-Pa55"):
        assert secret.encode() not in dumped, "nor anywhere in the database"


def test_a_secret_no_key_opens_makes_the_route_wait_and_says_so(
    server: Any, sink: Sink, tmp_path: Any
) -> None:
    """A shell with another data directory (so another key) seals a secret the server cannot open."""
    (tmp_path / "elsewhere").mkdir()
    elsewhere = {**cli_env(server.settings), "WEBHOOK_APP_DATA_DIR": str(tmp_path / "elsewhere")}
    added = CliRunner().invoke(
        cli,
        ["routes", "add", "alerts", "--handler", "slack", "--option", f"webhook_url={sink.url}/x"],
        env=elsewhere,
    )
    assert added.exit_code == 0, added.output
    services = server.app.extensions["webhook_app"]
    in_use = LiveRoutes(services.book).current()
    assert "alerts" in in_use.broken and "cannot be decrypted" in in_use.broken["alerts"]
    (item,) = [i for i in server.admin.get("/api/routes").json()["items"] if i["name"] == "alerts"]
    assert "cannot be decrypted" in (item["problem"] or "")
    listed = CliRunner().invoke(cli, ["routes", "list"], env=cli_env(server.settings))
    assert "alerts" in listed.output and "CANNOT DELIVER" in listed.output

    dispatcher = Dispatcher(server.store, (), {}, follow=LiveRoutes(services.book), poll_interval=0.05)
    try:
        server.post_callback(load_fixture("resemble_finished.json"))
        deliver_due(dispatcher)
        deliver_due(dispatcher)
    finally:
        dispatcher.close()
    statuses = {d["route"]: d["status"] for d in server.admin.get("/api/deliveries").json()["items"]}
    assert statuses == {"alerts": "pending", "log": "succeeded"}, "it waits, not dead"
    assert sink.requests == []


def test_a_route_with_deliveries_waiting_is_removed_only_with_discard(server: Any, sink: Sink) -> None:
    server.admin.post("/api/routes", json=slack_route(sink))
    server.admin.post("/api/routes", json={"name": "oncall", "handler": "log", "events": ["ops.*"]})
    server.post_callback(load_fixture("resemble_finished.json"))
    server.post_callback(load_fixture("resemble_dataset_issue.json"))
    refused = server.admin.delete("/api/routes/alerts")
    assert refused.status_code == 409 and "2 deliveries" in refused.json()["error"]["message"]
    assert server.admin.delete("/api/routes/alerts", params={"discard": "true"}).status_code == 204
    dead = server.admin.get("/api/deliveries", params={"status": "dead", "route": "alerts"}).json()["items"]
    assert len(dead) == 2 and all("was deleted by env-1" in d["last_error"] for d in dead)
    (told,) = server.admin.get("/api/events", params={"type": "ops.delivery.dead"}).json()["items"]
    assert told["data"]["discarded"] == 2 and told["data"]["error"]["code"] == "route_deleted"
    assert told["delivery_counts"]["pending"] == 1, "the ops event went to the ops route"
    assert "alerts" not in [i["name"] for i in server.admin.get("/api/routes").json()["items"]]
    assert server.admin.delete("/api/routes/alerts").status_code == 404


def test_the_command_line_adds_edits_and_removes_routes_whatever_its_config_file_says(
    server: Any, sink: Sink, tmp_path: Any
) -> None:
    other = tmp_path / "other.toml"
    other.write_text('[[routes]]\nname = "shell-only"\nhandler = "log"\n')
    env = cli_env(server.settings, WEBHOOK_APP_CONFIG=str(other))
    added = CliRunner().invoke(
        cli,
        ["routes", "add", "alerts", "--handler", "slack", "--option", f"webhook_url={sink.url}/x"],
        env=env,
    )
    assert added.exit_code == 0 and "alerts: added (version 1)" in added.output, added.output
    listed = CliRunner().invoke(cli, ["routes", "list"], env=env)
    assert "shell-only" not in listed.output and "alerts (slack, api v1)" in listed.output
    assert "log (log, api v1)" in listed.output, "the server's routes, not this shell's file"
    edited = CliRunner().invoke(cli, ["routes", "edit", "alerts", "--events", "voice.training.*"], env=env)
    assert edited.exit_code == 0 and "version 2" in edited.output
    (item,) = [i for i in server.admin.get("/api/routes").json()["items"] if i["name"] == "alerts"]
    assert item["events"] == ["voice.training.*"] and item["updated_by"].startswith("cli:")
    removed = CliRunner().invoke(cli, ["routes", "remove", "alerts", "--yes"], env=env)
    assert removed.exit_code == 0 and "alerts: removed" in removed.output
    assert CliRunner().invoke(cli, ["routes", "remove", "alerts", "--yes"], env=env).exit_code == 1
    reload = CliRunner().invoke(cli, ["routes", "reload"], env=env)
    assert reload.exit_code == 0 and "nothing to reload" in reload.output


def test_a_change_reaches_a_process_at_its_next_look(server: Any, sink: Sink) -> None:
    """What every process does: a cheap look at the generation, the routes read again when it moved."""
    services = server.app.extensions["webhook_app"]
    elsewhere = LiveRoutes(services.book, check_seconds=0)
    before = elsewhere.current()
    assert [r.name for r in before.routes] == ["log"]
    server.admin.post("/api/routes", json=slack_route(sink))
    after = elsewhere.current()
    assert after.generation == before.generation + 1 and [r.name for r in after.routes] == ["alerts", "log"]
    assert elsewhere.current() is after, "unchanged: not read again"
    sink.respond = lambda _: Reply(status=200, body=b"ok")


def test_a_secret_read_from_the_database_is_kept_out_of_log_lines(server: Any, sink: Sink) -> None:
    redact = Redactor()  # as configured at start: it knew no route's secret then
    line = f"POST {sink.url}{SLACK_URL_PATH} failed"
    assert redact(line) == line
    server.admin.post("/api/routes", json=slack_route(sink))
    LiveRoutes(server.app.extensions["webhook_app"].book).current()
    assert SLACK_URL_PATH not in redact(line) and "***" in redact(line)


def test_a_change_made_in_this_process_is_used_by_it_at_once(server: Any, sink: Sink) -> None:
    """The process that made a change routes the next callback with it, not half a second later."""
    services = server.app.extensions["webhook_app"]
    services.routes.current()
    services.book.create(slack_route(sink), by="test", now=services.clock.now())
    (event_id,) = server.post_callback(load_fixture("resemble_finished.json")).json()["event_ids"]
    routes = {d["route"] for d in server.admin.get(f"/api/events/{event_id}").json()["deliveries"]}
    assert routes == {"alerts", "log"}


def test_hostile_route_bodies_get_a_clear_answer_and_nothing_is_kept(server: Any, sink: Sink) -> None:
    """Was: a 500 for a deeply nested body and for `options` that were not an object, and text
    PostgreSQL cannot keep (NUL, an unpaired surrogate) was accepted on SQLite and a 500 there."""
    deep = '{"name": "deep", "handler": "log", "options": {"x": ' + "[" * 5000 + "]" * 5000 + "}}"
    answer = server.admin.post("/api/routes", content=deep, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_json"
    for body, where in (
        ({"name": "nul", "handler": "log", "events": ["voice.\u0000"]}, "events[0]"),
        ({"name": "sur", "handler": "log", "options": {"note": "\ud800"}}, "options.note"),
    ):
        answer = server.admin.post(
            "/api/routes", content=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 422 and list(answer.json()["error"]["details"]) == [where], answer.text
    not_a_mapping = server.admin.patch("/api/routes/log", json={"version": 1, "options": [1, 2]})
    assert not_a_mapping.status_code == 422
    assert not_a_mapping.json()["error"]["details"] == {"options": ["Not a valid mapping type."]}
    assert [i["name"] for i in server.admin.get("/api/routes").json()["items"]] == ["log"]
    assert [i["version"] for i in server.admin.get("/api/routes").json()["items"]] == [1]


def test_racing_deletes_with_discard_remove_once_and_raise_one_ops_event(server: Any, sink: Sink) -> None:
    server.admin.post("/api/routes", json=slack_route(sink))
    server.post_callback(load_fixture("resemble_finished.json"))

    def delete(_: int) -> int:
        return server.admin.delete("/api/routes/alerts", params={"discard": "true"}).status_code

    assert sorted(race(6, delete)) == [204, 404, 404, 404, 404, 404]
    (told,) = server.admin.get("/api/events", params={"type": "ops.delivery.dead"}).json()["items"]
    assert told["data"]["discarded"] == 1


def test_a_callback_never_waits_for_the_look_at_the_routes(make_server_for: Any, tmp_path: Path) -> None:
    """Was: the callback that found a look due read the generation itself, so it waited for a
    database connection (admins' long reads held them: the p99 drill rose from 40-90 to 130 ms).
    Here the generations table is locked by another session: the callback is still answered."""
    with postgres_schema() as url:
        settings = Settings(
            database_url=url,
            data_dir=str(tmp_path),
            admin_tokens=(ADMIN_TOKEN,),
            provider_tokens={"resemble": RESEMBLE_TOKENS},
        )
        server = make_server_for(settings)
        assert server.post_callback({"id": "first", "status": "finished"}).status_code == 202
        time.sleep(CHECK_SECONDS + 0.1)  # a look at the generation is due
        blocker = sa.create_engine(url)
        with blocker.connect() as conn, conn.begin():
            conn.exec_driver_sql("LOCK TABLE generations IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            answer = server.http.post(
                f"/hooks/resemble/{RESEMBLE_TOKENS[0]}",
                json={"id": "second", "status": "finished"},
                timeout=3,
            )
            took = time.monotonic() - started
        blocker.dispose()
        assert answer.status_code == 202 and took < 1.0, f"answered in {took:.2f} s"


def test_a_process_no_callback_reached_for_a_while_routes_the_next_one_with_the_routes_of_now(
    server: Any, sink: Sink
) -> None:
    """Was: the callback path took the routes held however old they were and looked beside it,
    so the first callback after a quiet second went by routes changed since (by another process)."""
    assert server.post_callback({"id": "before", "status": "finished"}).status_code == 202
    added = CliRunner().invoke(
        cli, ["routes", "add", "later", "--handler", "log"], env=cli_env(server.settings)
    )  # another process: this one hears of it only by looking
    assert added.exit_code == 0, added.output
    time.sleep(2 * CHECK_SECONDS + 0.1)
    (event_id,) = server.post_callback({"id": "after", "status": "finished"}).json()["event_ids"]
    routes = {d["route"] for d in server.admin.get(f"/api/events/{event_id}").json()["deliveries"]}
    assert routes == {"later", "log"}
