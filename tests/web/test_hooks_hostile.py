"""Odd and hostile input gets the same clear, bounded answer on SQLite and PostgreSQL.

Every case here answered 500 or 503 (or was cut and accepted) before the fix it tests.
"""

from __future__ import annotations

import io
import json
import os
import socket
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import ADMIN_TOKEN, RESEMBLE_TOKENS
from webhook_app.providers.azure.operations import NewOperation, OperationStore, TooManyOperations
from webhook_app.providers.resemble.callbacks import MAX_RECORDINGS_IN_EVENT
from webhook_app.store import NewReceipt
from webhook_app.store.tables import events, receipts


def rows(server: Any, table: sa.Table, *where: Any) -> list[Any]:
    with server.store.engine.connect() as conn:
        return list(conn.execute(sa.select(table).where(*where)).all())


def kept_receipt(server: Any, response: Any) -> dict[str, Any]:
    receipt_id = response.headers.get("X-Receipt-Id") or response.json()["receipt_id"]
    answer = server.admin.get(f"/api/receipts/{receipt_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


# -- NUL and unpaired surrogates: 422 and a rejected receipt, never 503 or 500 ----------------

UNSTORABLE = {
    "NUL in the voice id": '{"id": "voice\\u0000x", "status": "finished"}',
    "NUL in the issue": '{"id": "v1", "status": "dataset_issue", "issue": "bad\\u0000take"}',
    "NUL in a recording name": '{"id": "v1", "status": "dataset_issue", "recordings": [{"name": "\\u0000"}]}',
    "NUL in a key": '{"id": "v1", "status": "finished", "x\\u0000": 1}',
    "lone surrogate in the id": '{"id": "\\ud800", "status": "finished"}',
    "lone low surrogate in a field": '{"id": "v1", "status": "finished", "voice": {"note": "a\\udfffb"}}',
}


@pytest.mark.parametrize("body", UNSTORABLE.values(), ids=UNSTORABLE.keys())
def test_text_no_database_can_keep_is_422_with_a_rejected_receipt(server: Any, body: str) -> None:
    response = server.post_callback(body.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_text"
    receipt = kept_receipt(server, response)
    assert receipt["status"] == "rejected"
    assert receipt["body"] == body, "the raw body is kept as sent"
    assert rows(server, events) == []


def test_escaped_characters_that_are_storable_are_kept_faithfully(server: Any) -> None:
    body = '{"id": "voice-\\ud83d\\ude00-\\u00e9", "status": "finished", "issue": "tab\\there"}'
    response = server.post_callback(body.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 202, response.text
    event = server.admin.get(f"/api/events/{response.json()['event_ids'][0]}").json()
    assert event["subject"] == "voice-\U0001f600-\u00e9"
    assert event["data"]["issue"] == "tab\there"


@pytest.mark.parametrize(
    "path",
    [
        "/api/events?voice_id=a%00b",
        "/api/events?status=%00",
        "/api/events/evt_%00",
        "/api/receipts/rcpt_%00",
        "/api/voices/resemble/a%00b",
        "/api/azure/operations/op%00",
    ],
)
def test_nul_in_a_path_or_query_is_400_not_an_outage(server: Any, path: str) -> None:
    response = server.admin.get(path)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_text"


def test_nul_in_a_tracked_operation_is_422(server: Any) -> None:
    response = server.admin.post(
        "/api/azure/operations",
        json={
            "operation_url": "https://eastus.api.cognitive.microsoft.com/customvoice/operations/x?api-version=1",
            "kind": "consent",
            "resource_id": "Jessica\u0000",
        },
    )
    assert response.status_code == 422, response.text
    assert "resource_id" in response.json()["error"]["details"]


def test_a_database_error_that_is_not_an_outage_is_not_answered_as_one(server: Any) -> None:
    """Only a lost connection may say 503 + Retry-After; a refused statement is our bug."""
    app = server.app

    @app.get("/test-only/bad-statement")
    def bad_statement() -> str:
        with server.store.engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO receipts (id) VALUES (NULL)")  # violates NOT NULL
        return "unreachable"

    response = server.http.get("/test-only/bad-statement")
    assert response.status_code == 500, response.text
    assert "Retry-After" not in response.headers


# -- structure: nesting and size --------------------------------------------------------------


@pytest.mark.parametrize("depth", [10_000, 990])
def test_deeply_nested_json_is_a_4xx_with_its_receipt(server: Any, depth: int) -> None:
    body = '{"id": "v1", "status": "finished", "voice": ' + "[" * depth + "]" * depth + "}"
    response = server.post_callback(body.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code in (202, 400), response.text
    receipt = kept_receipt(server, response)
    assert receipt["body"] == body


def test_a_callback_of_350k_empty_recordings_stays_small_everywhere(server: Any) -> None:
    padding = ",{}" * 349_000
    body = ('{"id": "v-huge", "status": "dataset_issue", "recordings": [{"name": "flagged.wav", '
            '"is_silent": true}' + padding + "]}")  # fmt: skip
    assert len(body) < 1024 * 1024
    response = server.post_callback(body.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 202, response.text
    answer = server.admin.get(f"/api/events/{response.json()['event_ids'][0]}")
    assert len(answer.content) < 2 * 1024 * 1024, "was 62 MB"
    data = answer.json()["data"]
    assert len(data["recordings"]) == MAX_RECORDINGS_IN_EVENT
    assert data["recordings_omitted"] == 349_001 - MAX_RECORDINGS_IN_EVENT
    assert data["recordings"][0]["name"] == "flagged.wav", "flagged recordings are kept first"
    (stored,) = rows(server, events)
    assert len(json.dumps(stored.document)) < 2 * 1024 * 1024
    assert kept_receipt(server, response)["body"] == body, "the receipt keeps every recording"


def test_flagged_recordings_beyond_the_cap_are_kept_before_unflagged_ones(server: Any) -> None:
    recordings = [{"name": f"ok-{n}.wav"} for n in range(MAX_RECORDINGS_IN_EVENT + 5)]
    recordings.append({"name": "late-outlier.wav", "is_outlier": "true"})
    response = server.post_callback({"id": "v1", "status": "dataset_issue", "recordings": recordings})
    data = server.admin.get(f"/api/events/{response.json()['event_ids'][0]}").json()["data"]
    names = [r["name"] for r in data["recordings"]]
    assert "late-outlier.wav" in names and names[-1] == "late-outlier.wav", "kept, in the provider's order"
    assert data["recordings_omitted"] == 6


def chunked_post(server: Any, body: bytes, chunk: int = 65536) -> tuple[int, bytes]:
    """POST with Transfer-Encoding: chunked over a raw socket (httpx would send a length)."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(
            f"POST /hooks/resemble/{RESEMBLE_TOKENS[0]} HTTP/1.1\r\nHost: {host}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        try:
            for start in range(0, len(body), chunk):
                part = body[start : start + chunk]
                conn.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            conn.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # refused early: the answer is already there
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < _length(answer):
            answer += conn.recv(65536)
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\r\n\r\n", 1)[1]


def _length(answer: bytes) -> int:
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


@pytest.mark.parametrize("form", ["padded valid JSON", "long JSON"])
def test_a_chunked_body_over_the_limit_is_413_and_nothing_is_kept(server: Any, form: str) -> None:
    limit = server.app.extensions["webhook_app"].settings.max_body_bytes
    if form == "padded valid JSON":  # was cut at the limit and accepted
        body = b'{"id": "v1", "status": "finished"}' + b" " * limit
    else:
        body = b'{"id": "v1", "status": "finished", "issue": "' + b"x" * limit + b'"}'
    status, answer = chunked_post(server, body)
    assert status == 413, answer
    assert rows(server, receipts) == [] and rows(server, events) == []


def test_a_chunked_body_within_the_limit_is_accepted(server: Any) -> None:
    status, answer = chunked_post(server, b'{"id": "v1", "status": "finished"}', chunk=7)
    assert status == 202, answer
    assert len(rows(server, events)) == 1


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "declared length"])
def test_a_body_of_exactly_the_limit_is_accepted(server: Any, chunked: bool) -> None:
    """Was: sent chunked, a body of exactly the limit was refused as too large."""
    limit = server.app.extensions["webhook_app"].settings.max_body_bytes
    start = b'{"id": "v1", "status": "finished", "issue": "'
    body = start + b"x" * (limit - len(start) - 2) + b'"}'
    assert len(body) == limit
    if chunked:
        status, answer = chunked_post(server, body, chunk=65536)
    else:
        response = server.post_callback(body, headers={"Content-Type": "application/json"})
        status, answer = response.status_code, response.content
    assert status == 202, answer[:300]
    assert len(rows(server, events)) == 1


# -- listing: cursors and time ranges ---------------------------------------------------------


@pytest.mark.parametrize(
    "cursor", ["djE6OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5", "djE6LTE", "djE6MA", "djI6MToyMDI2LTAxLTAx"]
)
def test_a_cursor_with_an_absurd_position_is_400(server: Any, cursor: str) -> None:
    response = server.admin.get("/api/events", params={"cursor": cursor})
    assert response.status_code == 400, response.text
    assert "cursor" in response.json()["error"]["details"]


def test_a_time_range_pages_by_time_without_gaps_or_repeats(server: Any) -> None:
    now = datetime.now(UTC)
    ids = []
    for n in range(7):
        response = server.post_callback({"id": f"v{n}", "status": "finished", "n": n})
        ids.append(response.json()["event_ids"][0])
    since = (now - timedelta(minutes=5)).isoformat()
    seen, cursor = [], None
    while True:
        params = {"since": since, "limit": 3} | ({"cursor": cursor} if cursor else {})
        page = server.admin.get("/api/events", params=params).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids[::-1], "newest first, each once"
    untimed = server.admin.get("/api/events", params={"limit": 3}).json()["next_cursor"]
    response = server.admin.get("/api/events", params={"since": since, "cursor": untimed})
    assert response.status_code == 400, "a cursor of another listing is refused, not misread"


# -- limits: rejected receipts and tracked operations -------------------------------------------


def test_only_the_newest_rejected_receipts_are_kept(server: Any) -> None:
    for n in range(5):
        server.store.ingest.record_rejected(
            NewReceipt(provider="resemble", received_at=datetime.now(UTC), body=f"{n}".encode(), headers={}),
            {"code": "x"},
            keep=3,
        )
    kept = rows(server, receipts, receipts.c.status == "rejected")
    assert sorted(r.body for r in kept) == [b"2", b"3", b"4"]


def test_tracking_stops_at_the_limit_of_active_operations(server: Any) -> None:
    operations = OperationStore(server.store)
    now = datetime.now(UTC)

    def new(n: int) -> NewOperation:
        return NewOperation(
            operation_url=f"https://eastus.api.cognitive.microsoft.com/customvoice/operations/op{n}?api-version=1",
            operation_id=f"op{n}",
            kind="consent",
            resource_id=f"c{n}",
            interval_seconds=10,
        )

    for n in range(2):
        operations.track(new(n), now=now, limit=2)
    with pytest.raises(TooManyOperations):
        operations.track(new(2), now=now, limit=2)
    assert operations.track(new(1), now=now, limit=2)[1] is False, "an operation already tracked is found"


def test_the_api_answers_429_at_the_limit_of_tracked_operations(settings: Any, make_server_for: Any) -> None:
    from dataclasses import replace

    server = make_server_for(replace(settings, max_tracked_operations=1))
    url = (
        "https://eastus.api.cognitive.microsoft.com/customvoice/operations/{}?api-version=2023-12-01-preview"
    )
    first = server.admin.post(
        "/api/azure/operations",
        json={"operation_url": url.format("op-a"), "kind": "consent", "resource_id": "consent-1"},
    )
    assert first.status_code == 201, first.text
    second = server.admin.post(
        "/api/azure/operations",
        json={"operation_url": url.format("op-b"), "kind": "consent", "resource_id": "consent-2"},
    )
    assert second.status_code == 429, second.text
    assert "WEBHOOK_APP_MAX_TRACKED_OPERATIONS" in second.json()["error"]["message"]


# -- files and metrics --------------------------------------------------------------------------


def test_sqlite_files_are_private(tmp_path: Path, make_server_for: Any) -> None:
    from webhook_app.config.settings import Settings

    database = tmp_path / "private.db"
    old_umask = os.umask(0o022)
    try:
        server = make_server_for(
            Settings(
                database_url=f"sqlite:///{database}",
                data_dir=str(tmp_path),
                provider_tokens={"resemble": RESEMBLE_TOKENS},
                admin_tokens=(ADMIN_TOKEN,),
            )
        )
        assert server.post_callback({"id": "v1", "status": "finished"}).status_code == 202
    finally:
        os.umask(old_umask)
    made = [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
    assert all(path.exists() for path in made)
    assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in made} == {p.name: 0o600 for p in made}


def test_the_web_worker_s_judgement_is_the_one_the_callback_is_answered_by(server: Any) -> None:
    """The token is checked once per request: the endpoint answers by what `body_allowance` judged."""
    from webhook_app.web.hooks import JUDGED

    endpoint = server.app.wsgi_app
    environ = {"PATH_INFO": f"/hooks/resemble/{RESEMBLE_TOKENS[0]}", "REQUEST_METHOD": "POST",
               "CONTENT_LENGTH": "2", "wsgi.input": io.BytesIO(b"{}")}  # fmt: skip
    assert endpoint.body_allowance(environ) is not None and environ[JUDGED] is None
    environ[JUDGED] = (404, {"error": {"code": "not_found"}}, {})  # as if judged a wrong token
    answers: list[str] = []
    endpoint(environ, lambda status, headers: answers.append(status))
    assert answers == ["404 Not Found"]
