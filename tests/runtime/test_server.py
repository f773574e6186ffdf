"""End to end with real processes: `serve`, crashes (SIGKILL) of web and worker, gunicorn concurrency."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import load_fixture, wait_until
from tests.processes import (
    Process,
    environment,
    free_port,
    ingest_directly,
    run_cli,
    sink_routes_config,
    wait_for_http,
)
from tests.sink import Sink
from webhook_app.model.routes import Route
from webhook_app.store import Store

pytestmark = pytest.mark.slow  # real processes, a browser or a drill

TOKEN = "process-test-callback-token-0123456789"
ADMIN = "process-test-admin-token-0123456789ab"


@pytest.fixture
def started(tmp_path: Path) -> Iterator[Any]:
    processes: list[Process] = []

    def start(args: list[str], env: dict[str, str]) -> Process:
        processes.append(Process(args, env, tmp_path))
        return processes[-1]

    yield start
    for process in processes:
        process.close()


def test_serve_takes_a_simulated_callback_and_delivers_it_to_the_log_route(
    database_url: str, tmp_path: Path, started: Any
) -> None:
    """The README quickstart: no tokens configured, `serve`, then `simulate`."""
    port = free_port()
    env = environment(database_url, tmp_path)
    serve = started(["serve", "--port", str(port)], env)
    base = f"http://127.0.0.1:{port}"
    wait_for_http(base, serve)
    tokens = json.loads((tmp_path / "webhook_app.tokens.json").read_text())
    assert oct((tmp_path / "webhook_app.tokens.json").stat().st_mode & 0o777) == "0o600"
    assert f"/hooks/resemble/{tokens['resemble_tokens'][0]}" in serve.output

    simulated = run_cli(["simulate", "resemble", "dataset_issue", "--url", base], env, tmp_path)
    assert simulated.returncode == 0, simulated.stderr
    assert simulated.stdout.startswith("202 ")
    voice_id = simulated.stdout.split("voice id: ")[1].split()[0]
    shown = simulated.stdout.split("see it: ")[1].split()
    assert shown[:3] == ["webhook-app", "events", "show"], simulated.stdout
    summary = run_cli(shown[1:], env, tmp_path)
    assert (
        summary.returncode == 0
        and "voice.dataset.issue" in summary.stdout
        and "deliveries:" in summary.stdout
    )
    assert "3 of 3 recordings flagged" in summary.stdout, summary.stdout

    admin = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tokens['admin_tokens'][0]}"})
    (event,) = admin.get("/api/events", params={"voice_id": voice_id}).json()["items"]
    assert event["type"] == "voice.dataset.issue" and event["data"]["recordings_count"] == 3
    recordings = admin.get(f"/api/events/{event['id']}").json()["data"]["recordings"]
    assert len(recordings) == 3
    assert all(isinstance(r["stoi_score"], float) and isinstance(r["is_silent"], bool) for r in recordings)

    def delivered() -> bool:
        deliveries = admin.get(f"/api/events/{event['id']}").json()["deliveries"]
        return [d["route"] for d in deliveries] == ["log"] and deliveries[0]["status"] == "succeeded"

    wait_until(delivered, timeout=15)
    assert serve.terminate() == 0, serve.output
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{base}/healthz", timeout=1)
    if database_url.startswith("sqlite:///"):
        # Every process closed the database: SQLite folded its WAL into the file, which alone
        # holds the event (what a backup that copies only the file gets).
        database = Path(database_url.removeprefix("sqlite:///"))
        assert not Path(f"{database}-wal").exists()
        copy = tmp_path / "copy.db"
        shutil.copyfile(database, copy)
        with closing(sqlite3.connect(copy)) as conn:
            assert conn.execute("SELECT count(*) FROM events WHERE id = ?", (event["id"],)).fetchone() == (1,)


def test_worker_killed_mid_delivery_is_retried_after_the_lease_and_nothing_is_lost(
    database_url: str, tmp_path: Path, started: Any, sink: Sink
) -> None:
    config = sink_routes_config(tmp_path, sink=sink.url)
    event_id = ingest_directly(database_url, (Route(name="sink", handler="tests.sink_handlers:SinkHandler"),))
    env = environment(database_url, tmp_path, config=str(config), lease_seconds="2")

    sink.release.clear()  # the first delivery hangs at the sink
    first = started(["worker"], env)
    wait_until(lambda: len(sink.requests) == 1, timeout=15)
    first.kill()
    sink.release.set()

    started(["worker"], env)
    store = Store.from_url(database_url)
    try:
        wait_until(lambda: store.reads.deliveries_of(event_id)[0]["status"] == "succeeded", timeout=20)
        (delivery,) = store.reads.deliveries_of(event_id)
    finally:
        store.dispose()
    assert [r.json()["id"] for r in sink.requests] == [event_id, event_id]
    assert sink.requests[1].at - sink.requests[0].at >= 1.5, "retried only once the 2 s lease expired"
    assert [a["outcome"] for a in delivery["attempts"]] == ["succeeded"]


def start_web(
    started: Any, database_url: str, tmp_path: Path, workers: int
) -> tuple[dict[str, str], str, Process]:
    """Migrate, then start `webhook-app web` with known tokens; returns (env, base URL, process)."""
    env = environment(database_url, tmp_path, resemble_tokens=TOKEN, admin_tokens=ADMIN)
    assert run_cli(["db", "upgrade"], env, tmp_path).returncode == 0
    port = free_port()
    web = started(["web", "--port", str(port), "--workers", str(workers)], env)
    wait_for_http(f"http://127.0.0.1:{port}", web)
    return env, f"http://127.0.0.1:{port}", web


def test_web_killed_right_after_a_202_keeps_the_event_and_it_is_delivered(
    database_url: str, tmp_path: Path, started: Any
) -> None:
    env, base, web = start_web(started, database_url, tmp_path, workers=1)
    answer = httpx.post(f"{base}/hooks/resemble/{TOKEN}", json=load_fixture("resemble_finished.json"))
    assert answer.status_code == 202
    web.kill()

    web_again = started(["web", "--port", base.rsplit(":", 1)[1], "--workers", "1"], env)
    started(["worker"], env)
    wait_for_http(base, web_again)
    admin = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN}"})
    (event_id,) = answer.json()["event_ids"]
    assert admin.get(f"/api/events/{event_id}").json()["type"] == "voice.training.succeeded"
    wait_until(lambda: admin.get(f"/api/events/{event_id}").json()["deliveries"][0]["status"] == "succeeded")


def test_concurrent_identical_callbacks_through_several_gunicorn_workers_make_one_event(
    database_url: str, tmp_path: Path, started: Any
) -> None:
    env, base, web = start_web(started, database_url, tmp_path, workers=3)
    body = load_fixture("resemble_dataset_issue.json")
    with ThreadPoolExecutor(20) as pool:
        statuses = sorted(
            pool.map(
                lambda _: httpx.post(f"{base}/hooks/resemble/{TOKEN}", json=body, timeout=30).status_code,
                range(20),
            )
        )
    assert statuses == [200] * 19 + [202]
    admin = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN}"})
    assert len(admin.get("/api/events", params={"voice_id": body["id"]}).json()["items"]) == 1


def test_a_bad_config_stops_start_up_with_file_route_and_field(database_url: str, tmp_path: Path) -> None:
    config = tmp_path / "routes.toml"
    config.write_text('[[routes]]\nname = "ops"\nhandler = "log"\nretry = { max_attempts = "many" }\n')
    env = environment(database_url, tmp_path, config=str(config))
    for command in (["worker"], ["serve", "--port", str(free_port())]):
        result = run_cli(command, env, tmp_path)
        assert result.returncode != 0
        assert f"{config}: route 'ops': field 'retry.max_attempts': Not a valid integer." in result.stderr


@pytest.mark.parametrize(("command", "signals"), [("worker", 200), ("serve", 2)])
def test_repeated_sigterms_stop_the_process_promptly(tmp_path: Path, command: str, signals: int) -> None:
    """systemd stops a unit by signalling every process in it, and `serve` forwards the signal
    to its children too, so each child gets SIGTERM twice. Was: a second signal arriving while
    the first one's handler was setting an event deadlocked the worker on that event's lock,
    until `serve` killed it 30 s later (a burst makes that overlap likely; `serve` gets what
    systemd sends: one to each of its processes, twice)."""
    database = f"sqlite:///{tmp_path / 'events.db'}"
    env = environment(database, tmp_path, log_level="INFO")
    assert run_cli(["db", "upgrade"], env, tmp_path).returncode == 0
    port = free_port()
    args = ["serve", "--port", str(port)] if command == "serve" else ["worker"]
    process = Process(args, env, tmp_path)
    try:
        wait_until(lambda: "dispatcher started" in process.output, timeout=30)
        if command == "serve":  # a web worker still booting may miss its signal (gunicorn's own race)
            wait_for_http(f"http://127.0.0.1:{port}", process)
            wait_until(lambda: process.output.count("Worker ready") == 2, timeout=30)
        for _ in range(signals):
            os.killpg(process.proc.pid, signal.SIGTERM)
        started = time.monotonic()
        process.proc.wait(20)
        assert time.monotonic() - started < 10, process.output
    finally:
        process.close()
