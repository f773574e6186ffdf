"""`POST /hooks/resemble/<token>` over real HTTP, on every database backend."""

from __future__ import annotations

import json
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from tests.conftest import ADMIN_TOKEN, RESEMBLE_TOKENS, load_fixture, with_routes
from tests.ingest_contract import IngestSecurityContract, assert_error_body, count
from webhook_app.model.routes import Route
from webhook_app.plugins.provider import InvalidCallback
from webhook_app.providers.resemble.callbacks import ResembleProvider
from webhook_app.store.tables import deliveries, events, receipts


class TestResembleIngest(IngestSecurityContract):
    def valid_body(self) -> Any:
        return load_fixture("resemble_dataset_issue.json")

    def post(self, server: Any, body: Any, token: str | None = None, **kwargs: Any) -> Any:
        return server.post_callback(body, token=token or RESEMBLE_TOKENS[0], **kwargs)


def test_each_seed_callback_is_accepted_with_one_event(server: Any) -> None:
    for name, expected in [
        ("resemble_finished.json", "voice.training.succeeded"),
        ("resemble_dataset_issue.json", "voice.dataset.issue"),
        ("resemble_consent_validation_failed.json", "voice.consent.failed"),
    ]:
        response = server.post_callback(load_fixture(name))
        assert response.status_code == 202, response.text
        answer = response.json()
        assert answer["duplicate"] is False and answer["receipt_id"].startswith("rcpt_")
        (event_id,) = answer["event_ids"]
        assert server.admin.get(f"/api/events/{event_id}").json()["type"] == expected


def test_every_configured_token_is_accepted_for_rotation(server: Any) -> None:
    for token in RESEMBLE_TOKENS:
        body = {"id": f"voice-{token}", "status": "finished"}
        assert server.post_callback(body, token=token).status_code == 202


def test_missing_id_is_422_and_kept_as_a_rejected_receipt(server: Any) -> None:
    response = server.post_callback({"status": "finished", "ok": True})
    error = assert_error_body(response, 422, "invalid_callback")
    assert error["details"] == {"id": ["Missing data for required field."]}
    receipt = server.admin.get(f"/api/receipts/{response.headers['X-Receipt-Id']}").json()
    assert receipt["status"] == "rejected"
    assert receipt["reason"]["details"] == {"id": ["Missing data for required field."]}
    assert json.loads(receipt["body"]) == {"status": "finished", "ok": True}
    assert count(server, events) == 0


def test_a_rejected_request_does_not_touch_what_was_accepted(server: Any) -> None:
    accepted = server.post_callback(load_fixture("resemble_finished.json")).json()
    server.post_callback(b"garbage", headers={"Content-Type": "application/json"})
    server.post_callback({"id": 5})
    (event_id,) = accepted["event_ids"]
    assert server.admin.get(f"/api/events/{event_id}").status_code == 200
    assert count(server, events) == 1


def test_receipt_keeps_raw_body_and_headers_but_no_secrets(server: Any) -> None:
    raw = json.dumps(load_fixture("resemble_finished.json"), indent=3).encode()
    response = server.post_callback(
        raw,
        headers={
            "Content-Type": "application/json",
            "Authorization": "Bearer should-not-be-kept",
            "X-Api-Key": "also-secret",
            "User-Agent": "Resemble-Webhooks/1.0",
        },
    )
    receipt = server.admin.get(f"/api/receipts/{response.json()['receipt_id']}").json()
    assert receipt["body"].encode() == raw
    assert receipt["status"] == "accepted"
    assert receipt["headers"]["User-Agent"] == "Resemble-Webhooks/1.0"
    stored = json.dumps(receipt)
    for secret in ("should-not-be-kept", "also-secret", RESEMBLE_TOKENS[0]):
        assert secret not in stored


def test_whitespace_and_key_order_do_not_defeat_dedupe(server: Any) -> None:
    body = load_fixture("resemble_finished.json")
    first = server.post_callback(body)
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2)
    second = server.post_callback(reordered, headers={"Content-Type": "application/json"})
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json()["event_ids"] == first.json()["event_ids"]


def test_same_callback_after_the_dedupe_window_is_a_new_event(settings: Any, make_server_for: Any) -> None:
    server = make_server_for(replace(settings, dedupe_window=0.0))
    body = load_fixture("resemble_finished.json")
    first = server.post_callback(body)
    second = server.post_callback(body)
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["event_ids"] != second.json()["event_ids"]
    third = server.post_callback(body)
    assert third.status_code == 202
    assert count(server, events) == 3


def test_twenty_concurrent_identical_callbacks_make_exactly_one_event(server: Any) -> None:
    body = load_fixture("resemble_dataset_issue.json")
    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(lambda _: server.post_callback(body), range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 19 + [202]
    assert len({tuple(r.json()["event_ids"]) for r in responses}) == 1
    assert count(server, events) == 1
    assert count(server, receipts) == 1
    assert count(server, deliveries) == 1


def test_one_delivery_per_matching_route(settings: Any, make_server_for: Any) -> None:
    server = make_server_for(
        with_routes(
            settings,
            Route(name="all", handler="log"),
            Route(name="problems", handler="log", events=("voice.dataset.issue", "voice.consent.*")),
            Route(name="azure-only", handler="log", providers=("azure",)),
        )
    )
    issue = server.post_callback(load_fixture("resemble_dataset_issue.json")).json()["event_ids"][0]
    success = server.post_callback(load_fixture("resemble_finished.json")).json()["event_ids"][0]
    routes_of = {
        event_id: sorted(d["route"] for d in server.admin.get(f"/api/events/{event_id}").json()["deliveries"])
        for event_id in (issue, success)
    }
    assert routes_of == {issue: ["all", "problems"], success: ["all"]}
    with server.store.engine.connect() as conn:
        statuses = set(conn.execute(sa.select(deliveries.c.status)).scalars())
    assert statuses == {"pending"}


def test_no_callback_tokens_configured_means_every_callback_url_is_404(
    settings: Any, make_server_for: Any
) -> None:
    server = make_server_for(replace(settings, provider_tokens={}))
    assert_error_body(server.post_callback({"id": "v", "status": "finished"}, token=""), 404)
    assert_error_body(server.post_callback({"id": "v", "status": "finished"}, token="x"), 404)


def test_wrong_method_is_a_json_405(server: Any) -> None:
    response = server.http.get(f"/hooks/resemble/{RESEMBLE_TOKENS[0]}")
    assert_error_body(response, 405, "method_not_allowed")
    assert ADMIN_TOKEN not in response.text


def test_only_post_is_allowed_on_a_callback_url(server: Any) -> None:
    for method in ("PUT", "OPTIONS", "HEAD", "DELETE"):
        response = server.http.request(method, f"/hooks/resemble/{RESEMBLE_TOKENS[0]}")
        assert response.status_code == 405, method
        assert response.headers["Allow"] == "POST"
    assert count(server, receipts) == 0


def test_paths_that_are_not_a_callback_url_are_json_404s(server: Any) -> None:
    for path in ("/hooks/resemble", f"/hooks/resemble/{RESEMBLE_TOKENS[0]}/more", "/hooks//x", "/hooks"):
        assert_error_body(server.http.post(path, json={"id": "v", "status": "finished"}), 404, "not_found")
    assert count(server, receipts) == 0


def test_a_body_cut_short_of_its_declared_length_is_400_and_not_kept(server: Any) -> None:
    """The client sends 10 of the 100 bytes it declared, then closes its side."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as client:
        client.sendall(
            f"POST /hooks/resemble/{RESEMBLE_TOKENS[0]} HTTP/1.1\r\nHost: x\r\n"
            'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"id": "v"'.encode()
        )
        client.shutdown(socket.SHUT_WR)
        answer = b"".join(iter(lambda: client.recv(65536), b""))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer
    assert json.loads(body)["error"]["code"] == "bad_request"
    assert count(server, receipts) == 0


def test_an_unexpected_failure_is_a_logged_json_500(server: Any, monkeypatch: Any, caplog: Any) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("a bug in a provider")

    monkeypatch.setattr(ResembleProvider, "parse", broken)
    response = server.post_callback({"id": "v1", "status": "finished"})
    error = assert_error_body(response, 500, "internal_error")
    assert "a bug" not in error["message"], "the cause is logged, not sent"
    assert any(
        record.exc_info and "a bug in a provider" in str(record.exc_info[1]) for record in caplog.records
    )
    assert count(server, events) == 0


def test_a_providers_own_refusal_is_answered_whatever_its_status_and_details(
    server: Any, monkeypatch: Any
) -> None:
    """A provider may refuse with a status HTTP has no name for, and with details JSON cannot
    encode: the answer is still that status and a JSON error, and the receipt is kept as
    rejected (was: a 500, and the receipt lost)."""

    def refuse(*_: Any, **__: Any) -> Any:
        raise InvalidCallback("Not today.", {"at": datetime(2026, 1, 1, tzinfo=UTC)}, status=499, code="odd")

    monkeypatch.setattr(ResembleProvider, "parse", refuse)
    response = server.post_callback({"id": "v1", "status": "finished"})
    error = assert_error_body(response, 499, "odd")
    assert error["details"] == {"at": "2026-01-01 00:00:00+00:00"}
    assert count(server, receipts) == 1 and count(server, events) == 0


def test_event_recorded_signal_fires_after_commit_and_not_for_duplicates(server: Any) -> None:
    from webhook_app.model import signals

    seen: list[tuple[str, int]] = []

    def receiver(_sender: Any, event: Any) -> None:
        seen.append((event.id, count(server, events)))  # the event is already committed when announced

    signals.event_recorded.connect(receiver)
    try:
        body = load_fixture("resemble_finished.json")
        first = server.post_callback(body).json()
        server.post_callback(body)
    finally:
        signals.event_recorded.disconnect(receiver)
    assert seen == [(first["event_ids"][0], 1)]
