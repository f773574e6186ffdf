"""Access hygiene: what receipts keep, what the web page allows, how sessions end, what is printed."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN, race
from tests.processes import environment, run_cli
from webhook_app.model.clock import DatabaseClock, SystemClock, worker_clock
from webhook_app.providers.resemble import callbacks as resemble
from webhook_app.store import NewReceipt, Store, migrate
from webhook_app.telemetry.logs import formatter
from webhook_app.usecases.ingest import record_events
from webhook_app.web.pages import SLOW_DOWN_SECONDS


def sign_in(server: Any, client: httpx.Client) -> httpx.Response:
    return client.post(f"{server.url}/ui/login", data={"token": ADMIN_TOKEN})


def test_receipts_keep_only_the_headers_worth_keeping(server: Any) -> None:
    """Was a deny-list: credentials under other names were kept and shown in the API and the page."""
    credentials = {
        "X-Api-Auth": "c1-credential",
        "Proxy-Authorization": "Basic c2-credential",
        "X-Amz-Security-Token": "c3-credential",
        "X-Session": "c4-credential",
        "X-Hub-Sig": "c5-credential",
    }
    response = server.post_callback(
        {"id": "v1", "status": "finished"}, headers={**credentials, "User-Agent": "Resemble/1.0"}
    )
    receipt = server.admin.get(f"/api/receipts/{response.json()['receipt_id']}").json()
    assert "credential" not in str(receipt["headers"])
    assert {k.lower(): v for k, v in receipt["headers"].items()}["user-agent"] == "Resemble/1.0"


def test_every_answer_forbids_framing_sniffing_and_scripts(server: Any) -> None:
    callback_answers = [
        server.post_callback({"id": "v1", "status": "finished"}),  # 202, served ahead of Flask
        server.post_callback({"id": "v1"}),  # 422
        server.post_callback({"id": "v1", "status": "finished"}, token="wrong"),  # 404
    ]
    flask_answers = [
        server.http.get(path) for path in ("/ui/login", "/ui/", "/api/events", "/healthz", "/nowhere")
    ]
    for response in callback_answers + flask_answers:
        path, headers = response.request.url.path, response.headers
        assert headers["X-Frame-Options"] == "DENY", path
        assert headers["X-Content-Type-Options"] == "nosniff", path
        policy = headers["Content-Security-Policy"]
        assert (
            "frame-ancestors 'none'" in policy and "default-src 'none'" in policy and "script" not in policy
        )


def test_signing_out_ends_the_session_for_every_copy_of_the_cookie(server: Any) -> None:
    """Was: the old cookie still opened the event log after signing out."""
    with httpx.Client() as browser:
        assert sign_in(server, browser).status_code in (302, 303)
        stolen = dict(browser.cookies)
        page = browser.get(f"{server.url}/ui/")
        assert page.status_code == 200
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf, "the page carries a CSRF token"
        assert browser.post(f"{server.url}/ui/logout", data={"csrf": csrf.group(1)}).status_code in (302, 303)
    with httpx.Client(cookies=stolen) as attacker:
        answer = attacker.get(f"{server.url}/ui/", follow_redirects=False)
        assert answer.status_code in (302, 303) and "/ui/login" in answer.headers["Location"]


@pytest.mark.slow  # a drill: it waits out the slow-down of wrong tokens
def test_guessing_the_admin_token_is_slowed_with_429_and_the_right_token_still_signs_in(server: Any) -> None:
    """Was: about 1,000 guesses a second, without limit; then a blocked address refused the right token."""
    with httpx.Client(timeout=30) as guesser:
        answers = [
            guesser.post(f"{server.url}/ui/login", data={"token": f"guess-{n}"}).status_code
            for n in range(10)
        ]
        assert answers == [401] * 10
        started = time.monotonic()
        slowed = guesser.post(f"{server.url}/ui/login", data={"token": "guess-10"})
        assert slowed.status_code == 429 and time.monotonic() - started >= SLOW_DOWN_SECONDS
        assert int(slowed.headers["Retry-After"]) > 0
        right = guesser.post(f"{server.url}/ui/login", data={"token": ADMIN_TOKEN}, follow_redirects=False)
        assert right.status_code in (302, 303), "a right token is never refused for wrong ones"


@pytest.mark.slow  # a drill: it waits out the slow-down of wrong tokens
def test_racing_wrong_tokens_are_each_counted(server: Any) -> None:
    """Was: a read, then a write: concurrent wrong tokens passed the limit by one."""

    def guess(n: int) -> int:
        with httpx.Client(timeout=30) as guesser:
            return guesser.post(f"{server.url}/ui/login", data={"token": f"guess-{n}"}).status_code

    answers = race(12, guess)
    assert sorted(answers) == [401] * 10 + [429, 429]


@pytest.mark.slow
def test_behind_a_trusted_proxy_one_guesser_does_not_lock_out_the_others(
    settings: Any, make_server_for: Any
) -> None:
    """Was: keyed on the peer alone, ten wrong tokens from anyone behind the router locked out everyone."""
    server = make_server_for(replace(settings, trusted_proxies=("127.0.0.1/32",)))
    login = f"{server.url}/ui/login"
    with httpx.Client(timeout=30) as client:
        for n in range(11):
            last = client.post(login, data={"token": f"g{n}"}, headers={"X-Forwarded-For": "203.0.113.5"})
        assert last.status_code == 429
        other = client.post(login, data={"token": "typo"}, headers={"X-Forwarded-For": "198.51.100.7"})
        assert other.status_code == 401, "another client behind the proxy is not slowed"
        spoofed = client.post(
            login, data={"token": "g"}, headers={"X-Forwarded-For": "203.0.113.5, 127.0.0.1"}
        )
        assert spoofed.status_code == 429, "the proxy's own address is skipped"
    untrusted = make_server_for(settings)
    with httpx.Client(timeout=30) as client:
        for n in range(11):
            last = client.post(
                f"{untrusted.url}/ui/login",
                data={"token": f"g{n}"},
                headers={"X-Forwarded-For": f"10.0.0.{n}"},
            )
        assert last.status_code == 429, "without trusted proxies the header is ignored"


@pytest.mark.parametrize(
    "target", ["/ui/\r\nSet-Cookie: x=1", "/ui/events\n", "https://elsewhere.example/", "//x"]
)
def test_a_next_page_that_is_not_one_of_ours_leads_to_the_dashboard(server: Any, target: str) -> None:
    """Was: CR/LF in `next` answered 500, after a session row was written."""
    with httpx.Client(timeout=30) as client:
        answer = client.post(
            f"{server.url}/ui/login", data={"token": ADMIN_TOKEN, "next": target}, follow_redirects=False
        )
    assert answer.status_code in (302, 303) and answer.headers["Location"].endswith("/ui/")


def test_a_resource_id_that_walks_paths_is_422(server: Any) -> None:
    """Was: `../../../other` made the poller GET another path on the Azure host, with the key."""
    url = "https://eastus.api.cognitive.microsoft.com/customvoice/operations/op-1?api-version=2023-12-01-preview"
    for resource_id in ("../../../other", "a/b", "x", "-lead", "a%2Fb", "a?b=c"):
        answer = server.admin.post(
            "/api/azure/operations",
            json={"operation_url": url, "kind": "consent", "resource_id": resource_id},
        )
        assert answer.status_code == 422, (resource_id, answer.text)
        assert "resource_id" in answer.json()["error"]["details"]


def test_text_logs_keep_one_record_on_one_line() -> None:
    """Was: a newline in a voice id forged a whole log line."""
    record = logging.LogRecord(
        "x",
        logging.INFO,
        __file__,
        1,
        "recorded for voice %s",
        ("v1\n2026-11-30 INFO forged: line\x1b[31m",),
        None,
    )
    line = formatter("text").format(record)
    assert "\n" not in line and "\x1b" not in line
    assert "v1\\n2026-11-30 INFO forged: line\\x1b[31m" in line


def test_events_list_prints_no_terminal_escape(database_url: str, tmp_path: Path) -> None:
    """Was: escape sequences in a voice id reached the operator's terminal."""
    store = Store.from_url(database_url)
    migrate.upgrade(store.engine)
    now = datetime.now(UTC)
    receipt = NewReceipt(provider="resemble", received_at=now, body=b"{}", headers={})
    hostile = "voice\x1b]0;owned\x07\x1b[2J"
    events = resemble.to_events(
        resemble.validate_callback({"id": hostile, "status": "finished"}),
        receipt_id=receipt.id,
        received_at=now,
    )
    record_events(store, (), receipt, events, dedupe_key=None, dedupe_window=timedelta(0))
    store.dispose()
    listed = run_cli(["events", "list"], environment(database_url, tmp_path), tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "\x1b" not in listed.stdout and "\x07" not in listed.stdout
    assert "voice\\x1b]0;owned\\x07\\x1b[2J" in listed.stdout


def test_workers_on_postgresql_read_the_database_clock(database_url: str) -> None:
    store = Store.from_url(database_url)
    try:
        clock = worker_clock(store.engine)
        if store.engine.dialect.name != "postgresql":
            assert isinstance(clock, SystemClock)
            return
        assert isinstance(clock, DatabaseClock)
        with store.engine.connect() as conn:
            server = conn.exec_driver_sql("SELECT clock_timestamp()").scalar_one()
        assert abs((clock.now() - server).total_seconds()) < 0.5
    finally:
        store.dispose()


def test_routes_apply_refuses_a_literal_address_that_is_not_public(tmp_path: Path) -> None:
    config = tmp_path / "routes.toml"
    config.write_text(
        '[[routes]]\nname = "partner"\nhandler = "forward"\n[routes.options]\n'
        'url = "http://100.64.0.1/hook"\nsecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"\n'
    )
    env = environment(f"sqlite:///{tmp_path / 'events.db'}", tmp_path)
    assert run_cli(["db", "upgrade"], env, tmp_path).returncode == 0
    checked = run_cli(["routes", "apply", str(config)], env, tmp_path)
    assert checked.returncode == 1
    assert (
        "partner" in checked.stderr and "100.64.0.1" in checked.stderr and "Traceback" not in checked.stderr
    )
