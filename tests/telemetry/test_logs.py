"""Structured logs: JSON lines with context, and never a token, key, password or webhook secret."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import load_fixture, wait_until
from tests.processes import Process, environment, free_port, wait_for_http
from tests.sink import Reply, Sink
from webhook_app.store import Store, migrate

TOKEN = "callback-token-SECRET-1-0123456789abcdef"
ADMIN = "admin-token-SECRET-2-0123456789abcdefgh"
AZURE_KEY = "azure-key-SECRET-3"
SMTP_PASSWORD = "smtp-password-SECRET-4"
FORWARD_SECRET = "whsec_" + base64.b64encode(b"forward-secret-SECRET-5").decode()
SLACK_PATH = "/services/T000/B000/slack-SECRET-6"
SECRETS = (TOKEN, ADMIN, AZURE_KEY, SMTP_PASSWORD, FORWARD_SECRET, "slack-SECRET-6", "SECRET")


SPELLINGS = (
    "POST /hooks//resemble/{token} HTTP/1.1",
    "POST /hooks/resemble/./{token} HTTP/1.1",
    "POST /hooks/x/../resemble/{token} HTTP/1.1",
    "POST /hooks%2Fresemble%2F{token} HTTP/1.1",
    "POST /hooks/resemble/{encoded} HTTP/1.1",
    "GET /api/events?token={admin} HTTP/1.1",
    "GET /api/events?access_token={admin}&x=1 HTTP/1.1",
    "GET /healthz HTTP/1.1\r\nReferer: https://example.com/hooks/resemble/{token}",
)


def raw_request(port: int, request_line: str) -> None:
    """Sent as written: an HTTP client would normalize the path first."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(f"{request_line}\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}".encode())
        conn.recv(65536)


@pytest.mark.slow
def test_json_logs_carry_context_and_no_secret(database_url: str, tmp_path: Path, sink: Sink) -> None:
    sink.respond = lambda r: Reply(status=500) if "slack" in r.path else Reply()
    config = tmp_path / "routes.toml"
    config.write_text(
        f"""
[[routes]]
name = "ops-slack"
handler = "slack"
retry = {{ max_attempts = 1 }}
[routes.options]
webhook_url = "{sink.url}{SLACK_PATH}"

[[routes]]
name = "ops-email"
handler = "email"
retry = {{ max_attempts = 1 }}
[routes.options]
host = "127.0.0.1"
port = {free_port()}
security = "none"
username = "alerts"
password = "${{SMTP_PASSWORD}}"
from = "alerts@example.com"
to = ["ops@example.com"]
timeout_seconds = 2

[[routes]]
name = "partner"
handler = "forward"
[routes.options]
url = "{sink.url}/partner"
secret = "{FORWARD_SECRET}"
allow_private_targets = true
"""
    )
    env = environment(
        database_url, tmp_path, config=str(config), resemble_tokens=TOKEN, admin_tokens=ADMIN,
        azure_speech_key=AZURE_KEY, azure_allowed_hosts="localhost", log_format="json",
    )  # fmt: skip
    env["SMTP_PASSWORD"] = SMTP_PASSWORD
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    store = Store.from_url(database_url)
    migrate.upgrade(store.engine)
    web = Process(["web", "--port", str(port), "--workers", "1"], env, tmp_path)
    worker = Process(["worker"], env, tmp_path)
    try:
        wait_for_http(base, web)
        accepted = httpx.post(
            f"{base}/hooks/resemble/{TOKEN}", json=load_fixture("resemble_dataset_issue.json")
        )
        (event_id,) = accepted.json()["event_ids"]
        httpx.post(f"{base}/hooks/resemble/{TOKEN}", json={"status": "finished"})  # rejected
        httpx.post(f"{base}/hooks/resemble/wrong-{TOKEN}", json={})  # 404
        for path in SPELLINGS:  # the token in other spellings of the path, and in a query or header
            raw_request(
                port, path.format(token=TOKEN, admin=ADMIN, encoded=f"%{ord(TOKEN[0]):02X}{TOKEN[1:]}")
            )
        admin = {"Authorization": f"Bearer {ADMIN}"}
        httpx.post(
            f"{base}/api/azure/operations",
            headers=admin,
            json={
                "operation_url": "https://evil.example.com/customvoice/operations/x",
                "kind": "consent",
                "resource_id": "c",
            },
        )
        wait_until(
            lambda: (
                {d["route"]: d["status"] for d in store.reads.deliveries_of(event_id)}
                == {"ops-slack": "dead", "ops-email": "dead", "partner": "succeeded"}
            ),
            timeout=30,
        )
    finally:
        web.close()
        worker.close()
        store.dispose()
    lines: list[dict[str, Any]] = []
    for process in (web, worker):
        for raw in process.output.splitlines():
            lines.append(json.loads(raw))  # every line is JSON, gunicorn's too
        for secret in SECRETS:
            assert secret not in process.output, f"{secret} leaked into the logs"
    by_route = {line.get("route"): line for line in lines if line.get("delivery_id")}
    assert set(by_route) == {"ops-slack", "ops-email", "partner"}
    assert all(line["event_id"] == event_id for line in by_route.values())
    assert any(line.get("receipt_id") and "rejected" in line["message"] for line in lines)
    assert any(line["logger"].startswith("gunicorn") for line in lines)
    assert any(line["logger"] == "gunicorn.access" for line in lines), "no access line at INFO"
