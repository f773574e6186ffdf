"""Everyday mistakes, made as an operator would (the real command, no terminal): one line, non-zero exit."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import postgres_url, wait_until
from tests.processes import Process, environment, free_port, run_cli, sink_routes_config, wait_for_http
from tests.sink import Sink

pytestmark = pytest.mark.slow  # real processes, a browser or a drill


def one_clear_line(result: object, *expected: str) -> str:
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert result.returncode != 0, result  # type: ignore[attr-defined]
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def test_serve_on_a_busy_port_exits_at_once_naming_the_address(tmp_path: Path) -> None:
    """Was: the normal banner, then the web server restarted for ever while the worker ran."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env = environment(f"sqlite:///{tmp_path / 'events.db'}", tmp_path)
        started = time.monotonic()
        result = run_cli(["serve", "--port", str(port)], env, tmp_path)
    assert time.monotonic() - started < 10
    one_clear_line(result, f"127.0.0.1:{port}", "--port")


def test_web_on_a_busy_port_exits_at_once(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run_cli(
            ["web", "--port", str(port)], environment(f"sqlite:///{tmp_path / 'e.db'}", tmp_path), tmp_path
        )
    one_clear_line(result, f"127.0.0.1:{port}")


def test_read_only_commands_in_an_empty_folder_create_nothing_and_say_where_they_looked(
    tmp_path: Path,
) -> None:
    env = environment("sqlite:///webhook_app.db", tmp_path)
    for command in (["events", "list"], ["azure", "operations"], ["events", "show", "evt_x"]):
        line = one_clear_line(run_cli(command, env, tmp_path), str(tmp_path / "webhook_app.db"))
        assert "WEBHOOK_APP_DATABASE_URL" in line
    assert list(tmp_path.glob("webhook_app.db*")) == []


def test_an_sqlite_path_in_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    env = environment(f"sqlite:///{tmp_path / 'nowhere' / 'events.db'}", tmp_path)
    for command in (["db", "upgrade"], ["events", "list"]):
        one_clear_line(run_cli(command, env, tmp_path), str(tmp_path / "nowhere"), "does not exist")


def test_a_schema_that_is_not_upgraded_is_one_line(tmp_path: Path) -> None:
    database = tmp_path / "old.db"
    sa.create_engine(f"sqlite:///{database}").connect().close()  # an empty file: no schema at all
    env = environment(f"sqlite:///{database}", tmp_path)
    for command in (["events", "list"], ["worker"]):
        one_clear_line(run_cli(command, env, tmp_path), "webhook-app db upgrade")


def test_postgres_scheme_urls_are_accepted(tmp_path: Path) -> None:
    """What Heroku and many hosts hand out: `postgres://`; it meant psycopg2, which is not installed."""
    url = sa.engine.make_url(postgres_url())
    plain = f"postgres://{url.username}@{url.host}:{url.port}/{url.database}"
    result = run_cli(["db", "upgrade"], environment(plain, tmp_path), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "schema at" in result.stdout


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+psycopg://postgres@127.0.0.1:5432/no_such_database_here", "no_such_database_here"),
        ("postgresql+psycopg://postgres@127.0.0.1:{closed}/test", "127.0.0.1"),
    ],
    ids=["missing database", "server not answering"],
)
def test_database_mistakes_are_one_line(tmp_path: Path, url: str, expected: str) -> None:
    url = url.format(closed=free_port())
    for command in (["db", "upgrade"], ["events", "list"]):
        one_clear_line(
            run_cli(command, environment(url, tmp_path), tmp_path), "cannot use the database", expected
        )


def test_read_only_commands_need_no_route_secrets(tmp_path: Path) -> None:
    """Was: `events list` failed unless every ${SECRET} of the routes file was set."""
    config = tmp_path / "routes.toml"
    config.write_text(
        '[[routes]]\nname = "partner"\nhandler = "forward"\n[routes.options]\n'
        'url = "https://partner.example.com/hook"\nsecret = "${PARTNER_SECRET}"\n'
    )
    env = environment(f"sqlite:///{tmp_path / 'events.db'}", tmp_path, config=str(config))
    assert run_cli(["db", "upgrade"], env, tmp_path).returncode == 0
    listed = run_cli(["events", "list"], env, tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == "no events"
    checked = run_cli(["routes", "check"], env, tmp_path)  # what sends still needs it, and says so
    one_clear_line(checked, "PARTNER_SECRET")
    worker = Process(["worker"], env, tmp_path)
    assert worker.proc.wait(20) != 0 and "PARTNER_SECRET" in worker.output
    worker.close()


def test_destructive_commands_count_first_and_ask_before_removing(database_url: str, tmp_path: Path) -> None:
    """Was: prune deleted at once, and deliveries retry went ahead when no one could answer."""
    from datetime import UTC, datetime, timedelta

    from webhook_app.model.routes import Route
    from webhook_app.providers.resemble import callbacks as resemble
    from webhook_app.store import NewReceipt, Store, migrate
    from webhook_app.usecases.ingest import record_events

    store = Store.from_url(database_url)
    migrate.upgrade(store.engine)
    old = datetime.now(UTC) - timedelta(days=100)
    receipt = NewReceipt(provider="resemble", received_at=old, body=b"{}", headers={})
    events = resemble.to_events(
        resemble.validate_callback({"id": "old-voice", "status": "finished"}),
        receipt_id=receipt.id,
        received_at=old,
    )
    record_events(store, (), receipt, events, dedupe_key=None, dedupe_window=timedelta(0))
    env = environment(database_url, tmp_path)

    counted = run_cli(["prune", "--older-than", "90d", "--dry-run"], env, tmp_path)
    assert counted.returncode == 0, counted.stderr
    assert (
        "1 events" in counted.stdout
        and "1 receipts" in counted.stdout
        and "would be removed" in counted.stdout
    )
    refused = run_cli(["prune", "--older-than", "90d"], env, tmp_path)
    one_clear_line(refused, "--yes")
    assert store.reads.get_event(events[0].id) is not None, "nothing removed without --yes"
    removed = run_cli(["prune", "--older-than", "90d", "--yes"], env, tmp_path)
    assert removed.returncode == 0 and store.reads.get_event(events[0].id) is None

    route = Route(name="log", handler="log")
    fresh = NewReceipt(provider="resemble", received_at=datetime.now(UTC), body=b"{}", headers={})
    dead = resemble.to_events(
        resemble.validate_callback({"id": "v2", "status": "finished"}),
        receipt_id=fresh.id,
        received_at=fresh.received_at,
    )
    record_events(store, (route,), fresh, dead, dedupe_key=None, dedupe_window=timedelta(0))
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE deliveries SET status = 'dead'")
    assert run_cli(["routes", "add", "log", "--handler", "log"], env, tmp_path).returncode == 0
    one_clear_line(run_cli(["deliveries", "retry"], env, tmp_path), "--yes")
    assert store.reads.delivery_status_counts() == {"dead": 1}
    store.dispose()


def test_a_route_pattern_that_can_never_match_is_an_error_and_a_warning(tmp_path: Path) -> None:
    config = tmp_path / "routes.toml"
    config.write_text('[[routes]]\nname = "ops"\nhandler = "log"\nevents = ["voice.dataset.issues"]\n')
    env = environment(f"sqlite:///{tmp_path / 'events.db'}", tmp_path, config=str(config))
    serve = Process(["serve", "--port", str(free_port())], env, tmp_path)
    try:
        wait_until(lambda: "matches no event type" in serve.output, timeout=20)
        assert "warning: route 'ops': events pattern 'voice.dataset.issues'" in serve.output
        wait_until(lambda: "Try: webhook-app simulate" in serve.output, timeout=20)  # its routes applied
    finally:
        serve.close()
    one_clear_line(run_cli(["routes", "check"], env, tmp_path), "route 'ops'", "'voice.dataset.issues'")
    listed = run_cli(["events", "list", "--type", "voice.dataset.issues"], env, tmp_path)
    assert listed.returncode == 2 and "is no event type" in listed.stderr and "Traceback" not in listed.stderr


def test_the_callback_url_uses_public_url_and_can_be_seen_again(tmp_path: Path) -> None:
    env = environment(
        f"sqlite:///{tmp_path / 'events.db'}", tmp_path, public_url="https://hooks.example.com/"
    )
    port = free_port()
    first = Process(["serve", "--port", str(port)], env, tmp_path)
    try:
        wait_until(lambda: "Admin token" in first.output, timeout=20)
    finally:
        first.terminate()
        first.close()
    token = json.loads((tmp_path / "webhook_app.tokens.json").read_text())["resemble_tokens"][0]
    assert f"https://hooks.example.com/hooks/resemble/{token}" in first.output
    second = Process(["serve", "--port", str(port)], env, tmp_path)
    try:
        wait_until(lambda: "tokens show" in second.output, timeout=20)
        assert token not in second.output, "after the first start the token is masked"
        assert f"https://hooks.example.com/hooks/resemble/{token[:4]}…" in second.output
    finally:
        second.terminate()
        second.close()
    shown = run_cli(["tokens", "show"], env, tmp_path)
    assert shown.returncode == 0 and f"https://hooks.example.com/hooks/resemble/{token}" in shown.stdout
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    one_clear_line(
        run_cli(["tokens", "show"], environment(f"sqlite:///{empty / 'e.db'}", empty), empty), "serve"
    )


def test_a_file_applied_while_serve_runs_is_used_at_once_and_a_bad_one_changes_nothing(
    database_url: str, tmp_path: Path
) -> None:
    """Was: `routes reload` signalled serve, and the shell's routes could differ from the server's.
    Now the file is applied to the database, and the running web and worker follow it."""
    first, second = Sink(), Sink()
    config = sink_routes_config(tmp_path, first=first.url)
    env = environment(database_url, tmp_path, config=str(config))
    port = free_port()
    serve = Process(["serve", "--port", str(port)], env, tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(base, serve)
        token = json.loads((tmp_path / "webhook_app.tokens.json").read_text())["resemble_tokens"][0]

        def post(voice: str) -> None:
            answer = httpx.post(f"{base}/hooks/resemble/{token}", json={"id": voice, "status": "finished"})
            assert answer.status_code == 202

        post("before")
        wait_until(lambda: len(first.requests) == 1, timeout=20)
        sink_routes_config(tmp_path, second=second.url)
        shown = run_cli(["routes", "apply", str(config), "--prune"], env, tmp_path)
        assert shown.returncode == 0 and shown.stdout.splitlines() == ["+ second", "- first"], shown.stdout
        applied = run_cli(["routes", "apply", str(config), "--prune", "--yes"], env, tmp_path)
        assert applied.returncode == 0, applied.stderr
        changed_at = time.monotonic()
        post("after")  # the web process plans with the new routes, the worker delivers with them
        wait_until(lambda: len(second.requests) == 1, timeout=20)
        assert time.monotonic() - changed_at < 2.0 + 1.0, "seen within 2 s, delivered within 1 s more"
        assert len(first.requests) == 1

        config.write_text('[[routes]]\nname = "bad"\nhandler = "no_such_handler"\n')
        one_clear_line(run_cli(["routes", "apply", str(config), "--yes"], env, tmp_path), "no_such_handler")
        reloaded = run_cli(["routes", "reload"], env, tmp_path)
        assert reloaded.returncode == 0 and "nothing to reload" in reloaded.stdout
        os.kill(serve.proc.pid, signal.SIGHUP)  # harmless: nothing to reload
        post("kept")
        wait_until(lambda: len(second.requests) == 2, timeout=20)
        assert serve.proc.poll() is None
    finally:
        serve.close()
        first.close()
        second.close()


def test_a_test_event_goes_only_to_the_route_named_and_says_test(database_url: str, tmp_path: Path) -> None:
    partner, ops = Sink(), Sink()
    try:
        config = sink_routes_config(tmp_path, partner=partner.url, ops=ops.url)
        env = environment(database_url, tmp_path, config=str(config))
        assert run_cli(["db", "upgrade"], env, tmp_path).returncode == 0
        assert run_cli(["routes", "apply", str(config), "--yes"], env, tmp_path).returncode == 0
        sent = run_cli(["routes", "check", "--send-test", "--route", "ops"], env, tmp_path)
        assert sent.returncode == 0 and "Traceback" not in sent.stderr, sent.stderr
        assert partner.requests == [], "a partner's target gets nothing it was not asked for"
        (request,) = ops.requests
        assert request.json()["test"] is True
        listed = run_cli(["events", "list", "--json"], env, tmp_path)
        (event,) = [json.loads(line) for line in listed.stdout.splitlines()]
        assert event["id"] == request.json()["id"] and event["test"] is True
    finally:
        partner.close()
        ops.close()


def test_listings_print_json_lines(database_url: str, tmp_path: Path) -> None:
    env = environment(database_url, tmp_path, azure_speech_key="test-azure-key")
    assert run_cli(["db", "upgrade"], env, tmp_path).returncode == 0
    url = "https://eastus.api.cognitive.microsoft.com/customvoice/operations/op-1?api-version=2023-12-01-preview"
    tracked = run_cli(["azure", "track", url, "--kind", "consent", "--resource-id", "Jessica"], env, tmp_path)
    assert tracked.returncode == 0, tracked.stderr
    listed = run_cli(["azure", "operations", "--json"], env, tmp_path)
    (operation,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert operation["resource_id"] == "Jessica" and operation["state"] == "active"
