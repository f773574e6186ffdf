"""The provider guide (docs/writing-a-provider.md), installed as a package, takes callbacks in `serve`."""

from __future__ import annotations

import http.server
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN, wait_until
from tests.plugins.test_handler import build_plugin
from tests.processes import Process, environment, free_port, run_cli, wait_for_http
from tests.sink import Sink

pytestmark = pytest.mark.slow  # real processes, a browser or a drill

ACME_TOKEN = "acme-voice-callback-token-0123456789abcdef"


def test_the_guide_provider_installed_as_a_plugin_takes_callbacks_end_to_end(
    database_url: str, tmp_path: Path, sink: Sink
) -> None:
    site = build_plugin(tmp_path, "provider", "provider-entry-point")
    assert list(site.glob("acme_voice_plugin-1.0.dist-info/entry_points.txt"))
    config = tmp_path / "routes.toml"
    config.write_text(
        '[[routes]]\nname = "acme-only"\nhandler = "tests.sink_handlers:SinkHandler"\n'
        'events = ["voice.*"]\nproviders = ["acme-voice"]\n'
        f'[routes.options]\nurl = "{sink.url}/acme"\n'
    )
    env = environment(
        database_url, tmp_path, config=str(config), admin_tokens=ADMIN_TOKEN, acme_voice_tokens=ACME_TOKEN
    )
    env["PYTHONPATH"] = f"{site}:{env['PYTHONPATH']}"
    port = free_port()
    serve = Process(["serve", "--port", str(port)], env, tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(base, serve)
        hook = f"{base}/hooks/acme-voice/{ACME_TOKEN}"
        callback = {"voice": "narrator-7", "state": "bad_audio", "message": "3 clips are silent"}

        accepted = httpx.post(hook, json=callback)
        assert accepted.status_code == 202, accepted.text
        (event_id,) = accepted.json()["event_ids"]
        again = httpx.post(hook, json=callback)
        assert again.status_code == 200 and again.json() == {**accepted.json(), "duplicate": True}

        invalid = httpx.post(hook, json={"voice": "narrator-7"})
        assert invalid.status_code == 422
        assert invalid.json()["error"]["details"] == {"state": ["a string is required"]}
        assert httpx.post(f"{base}/hooks/acme-voice/{'x' * 40}", json=callback).status_code == 404
        assert httpx.post(f"{base}/hooks/azure/{ACME_TOKEN}", json=callback).status_code == 404, (
            "Azure is polled: it has no callback URL"
        )

        admin = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        (event,) = admin.get("/api/events", params={"provider": "acme-voice"}).json()["items"]
        assert event["id"] == event_id and event["type"] == "voice.dataset.issue"
        assert event["data"]["error"] == {"code": "bad_audio", "message": "3 clips are silent"}
        rejected = admin.get(f"/api/receipts/{invalid.headers['X-Receipt-Id']}").json()
        assert rejected["provider"] == "acme-voice" and rejected["status"] == "rejected"

        wait_until(lambda: len(sink.requests) == 1, timeout=20)
        delivered: dict[str, Any] = sink.requests[0].json()
        assert sink.requests[0].path == "/acme" and delivered["id"] == event_id
        assert delivered["source"] == "/providers/acme-voice" and delivered["subject"] == "narrator-7"

        reprocessed = run_cli(["receipts", "reprocess", invalid.headers["X-Receipt-Id"]], env, tmp_path)
        assert reprocessed.returncode == 1
        assert "Still not a valid callback: field 'state'" in reprocessed.stderr
    except AssertionError:
        print(serve.output)
        raise
    finally:
        serve.close()
    assert ACME_TOKEN not in serve.output


class VoiceStates(http.server.BaseHTTPRequestHandler):
    """A polled voice service on loopback: `GET /voices` answers the states set on the server."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = json.dumps(self.server.states).encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_polled_provider_with_a_command_group_plugs_in_without_touching_the_core(
    database_url: str, tmp_path: Path, sink: Sink
) -> None:
    """The guide's second example: its job runs in every worker and records through the ingest
    step (each state once, however often it is polled), and `webhook-app tick-voice` is its."""
    site = build_plugin(tmp_path, "polled-provider", "polled-provider-entry-point")
    service = http.server.ThreadingHTTPServer(("127.0.0.1", 0), VoiceStates)
    service.states = [{"voice": "narrator-9", "state": "training"}]  # type: ignore[attr-defined]
    threading.Thread(target=service.serve_forever, daemon=True).start()
    config = tmp_path / "routes.toml"
    config.write_text(
        '[[routes]]\nname = "tick-only"\nhandler = "tests.sink_handlers:SinkHandler"\n'
        'events = ["voice.*"]\nproviders = ["tick-voice"]\n'
        f'[routes.options]\nurl = "{sink.url}/tick"\n'
    )
    status_url = f"http://127.0.0.1:{service.server_port}/voices"
    env = environment(database_url, tmp_path, config=str(config), tick_voice_status_url=status_url)
    env["WEBHOOK_APP_TICK_VOICE_INTERVAL"] = "0.2"
    env["PYTHONPATH"] = f"{site}:{env['PYTHONPATH']}"

    assert run_cli(["db", "upgrade"], env, tmp_path).returncode == 0
    shown = run_cli(["tick-voice", "status"], env, tmp_path)
    assert shown.returncode == 0 and shown.stdout.strip() == status_url, shown.stderr
    worker = Process(["worker"], env, tmp_path)
    try:
        wait_until(lambda: len(sink.requests) == 1, timeout=30)
        service.states = [{"voice": "narrator-9", "state": "ready"}]  # type: ignore[attr-defined]
        wait_until(lambda: len(sink.requests) == 2, timeout=30)
        time.sleep(1.0)  # five more polls of the same state
        kinds = [(r.path, r.json()["type"], r.json()["data"]["status"]) for r in sink.requests]
        assert kinds == [
            ("/tick", "voice.status.changed", "training"),
            ("/tick", "voice.training.succeeded", "ready"),
        ]
        assert sink.requests[0].json()["source"] == "/providers/tick-voice"
    except AssertionError:
        print(worker.output)
        raise
    finally:
        worker.close()
        service.shutdown()
