"""Routes changed over the API reach worker processes started before the change, within
2 seconds, with no restart and no signal."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_TOKEN, RESEMBLE_TOKENS, postgres_schema, wait_until
from tests.processes import Process, environment
from tests.sink import Sink
from webhook_app.config.settings import Settings
from webhook_app.model.routes import Route

pytestmark = pytest.mark.slow
SINK = "tests.sink_handlers:SinkHandler"


def server_settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=str(tmp_path),
        admin_tokens=(ADMIN_TOKEN,),
        provider_tokens={"resemble": RESEMBLE_TOKENS},
        routes=(Route(name="log", handler="log"),),
    )


def generations(output: str) -> list[int]:
    return [int(n) for n in re.findall(r"routes: generation (\d+) in use", output)]


def test_a_route_added_over_the_api_is_used_by_a_running_worker_within_two_seconds(
    database_url: str, make_server_for: Any, sink: Sink, tmp_path: Path
) -> None:
    server = make_server_for(server_settings(database_url, tmp_path))
    worker = Process(["worker"], environment(database_url, tmp_path), tmp_path)
    try:
        wait_until(lambda: generations(worker.output), timeout=30)  # running, with the routes of the start
        made = server.admin.post(
            "/api/routes", json={"name": "partner", "handler": SINK, "options": {"url": sink.url}}
        )
        assert made.status_code == 201, made.text
        changed_at = time.monotonic()
        assert server.post_callback({"id": "voice-1", "status": "finished"}).status_code == 202
        wait_until(lambda: sink.requests, timeout=10)
        took = time.monotonic() - changed_at
        assert took < 2.0, f"the new route delivered {took:.2f} s after it was made"
        assert max(generations(worker.output)) > min(generations(worker.output)), "it followed the change"
    finally:
        worker.close()


def test_two_workers_on_postgresql_see_an_edit_within_two_seconds(
    make_server_for: Any, tmp_path: Path
) -> None:
    first, second = Sink(), Sink()
    with postgres_schema() as url:
        server = make_server_for(server_settings(url, tmp_path))
        made = server.admin.post(
            "/api/routes", json={"name": "partner", "handler": SINK, "options": {"url": first.url}}
        )
        assert made.status_code == 201
        workers = [Process(["worker"], environment(url, tmp_path), tmp_path) for _ in range(2)]
        try:
            for worker in workers:
                wait_until(lambda w=worker: generations(w.output), timeout=30)
            seen = [max(generations(worker.output)) for worker in workers]
            edited = server.admin.patch(
                "/api/routes/partner", json={"version": 1, "options": {"url": second.url}}
            )
            assert edited.status_code == 200, edited.text
            changed_at = time.monotonic()
            for worker, before in zip(workers, seen, strict=True):
                wait_until(lambda w=worker, b=before: max(generations(w.output)) > b, timeout=10)
            took = time.monotonic() - changed_at
            assert took < 2.0, f"both workers used the edit {took:.2f} s after it"
            for n in range(6):
                server.post_callback({"id": f"voice-{n}", "status": "finished"})
            wait_until(lambda: len(second.requests) == 6, timeout=10)
            assert first.requests == []
        finally:
            for worker in workers:
                worker.close()
            first.close()
            second.close()
