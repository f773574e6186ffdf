"""The admin API over real HTTP: auth, filters, cursor paging, event detail, voices, receipts, health."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN, load_fixture
from tests.ingest_contract import assert_error_body


def post(server: Any, voice: str, status: str, **extra: Any) -> str:
    response = server.post_callback({"id": voice, "status": status, **extra})
    assert response.status_code == 202, response.text
    return str(response.json()["event_ids"][0])


@pytest.mark.parametrize(
    "path",
    ["/api/events", "/api/events/evt_x", "/api/voices/resemble/v", "/api/receipts/rcpt_x"],
)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "Basic YWRtaW46YWRtaW4=", "Bearer"])
def test_admin_api_needs_the_admin_token(server: Any, path: str, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = server.http.get(path, headers=headers)
    assert_error_body(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_callback_token_does_not_open_the_admin_api(server: Any) -> None:
    response = server.http.get("/api/events", headers={"Authorization": "Bearer resemble-token-current"})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("headers", "secure"),
    [({}, False), ({"X-Forwarded-Proto": "https"}, True), ({"X-Forwarded-Proto": "http"}, False)],
)
def test_the_event_log_cookie_is_secure_when_the_browser_came_over_https(
    server: Any, headers: dict[str, str], secure: bool
) -> None:
    answer = server.http.post("/ui/login", data={"token": ADMIN_TOKEN}, headers=headers)
    assert answer.status_code == 302
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("webhook_app_session=") and "HttpOnly" in cookie
    assert ("; Secure" in cookie) is secure


def test_events_are_listed_newest_first_with_filters(server: Any) -> None:
    first = post(server, "voice-a", "finished")
    second = post(server, "voice-b", "dataset_issue", recordings=[{"uuid": "r", "stoi_score": "0.1"}])
    third = post(server, "voice-a", "consent_validation_failed")
    ids = lambda **params: [e["id"] for e in server.admin.get("/api/events", params=params).json()["items"]]  # noqa: E731
    assert ids() == [third, second, first]
    assert ids(voice_id="voice-a") == [third, first]
    assert ids(type="voice.dataset.issue") == [second]
    assert ids(status="finished") == [first]
    assert ids(provider="resemble") == [third, second, first]
    assert ids(provider="azure") == []
    assert ids(voice_id="voice-a", type="voice.consent.failed") == [third]
    now = datetime.now(UTC)
    assert ids(since=(now - timedelta(minutes=1)).isoformat()) == [third, second, first]
    assert ids(until=(now - timedelta(minutes=1)).isoformat()) == []
    assert ids(since=(now + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")) == []


def test_cursor_pages_through_every_event_once(server: Any) -> None:
    posted = [post(server, f"voice-{n}", "finished") for n in range(7)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        answer = server.admin.get("/api/events", params=params).json()
        seen += [e["id"] for e in answer["items"]]
        pages += 1
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(posted))
    assert pages == 3


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"since": "yesterday"}, "since"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"provider": "elevenlabs"}, "provider"),
        ({"voice": "misspelt-filter"}, "voice"),
    ],
)
def test_bad_query_parameters_are_400_naming_the_field(
    server: Any, params: dict[str, str], field: str
) -> None:
    error = assert_error_body(server.admin.get("/api/events", params=params), 400, "invalid_query")
    assert field in error["details"]


def test_event_detail_has_deliveries_and_attempts(server: Any) -> None:
    event_id = post(server, "voice-a", "dataset_issue")
    detail = server.admin.get(f"/api/events/{event_id}").json()
    assert detail["type"] == "voice.dataset.issue"
    (delivery,) = detail["deliveries"]
    assert delivery["route"] == "log" and delivery["status"] == "pending" and delivery["attempts"] == []
    assert delivery["id"].startswith("dlv_")
    assert_error_body(server.admin.get("/api/events/evt_missing"), 404, "not_found")


def test_voice_shows_latest_status_and_timeline_oldest_first(server: Any) -> None:
    first = post(server, "voice-a", "dataset_issue")
    post(server, "voice-b", "finished")
    last = post(server, "voice-a", "finished")
    voice = server.admin.get("/api/voices/resemble/voice-a").json()
    assert voice["provider"] == "resemble" and voice["voice_id"] == "voice-a"
    assert voice["status"] == "finished"
    assert [e["id"] for e in voice["events"]] == [first, last]
    assert_error_body(server.admin.get("/api/voices/resemble/nobody"), 404)
    assert_error_body(server.admin.get("/api/voices/elevenlabs/voice-a"), 404)


def test_receipt_links_to_its_events(server: Any) -> None:
    answer = server.post_callback(load_fixture("resemble_dataset_issue.json")).json()
    receipt = server.admin.get(f"/api/receipts/{answer['receipt_id']}").json()
    assert receipt["event_ids"] == answer["event_ids"]
    assert receipt["provider"] == "resemble" and receipt["body_encoding"] == "utf-8"
    assert receipt["received_at"].endswith("Z")
    assert_error_body(server.admin.get("/api/receipts/rcpt_missing"), 404)


def test_health_and_readiness(server: Any) -> None:
    assert server.http.get("/healthz").json() == {"status": "ok"}
    ready = server.http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_readiness_fails_until_migrations_are_applied(settings: Any) -> None:
    from webhook_app import create_app

    app = create_app(settings)  # no upgrade: empty database
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["error"]["code"] == "migrations_pending"
    app.extensions["webhook_app"].store.dispose()


def test_unknown_paths_answer_json_not_html(server: Any) -> None:
    assert_error_body(server.http.get("/nothing/here"), 404, "not_found")


def test_a_voice_timeline_is_paged_oldest_first(server: Any) -> None:
    """Was: every event of the voice in one answer (50,000 events: 17.6 s, 26 MB)."""
    ids = [post(server, "long-lived", f"status-{n}") for n in range(7)]
    seen, cursor, statuses = [], None, set()
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = server.admin.get("/api/voices/resemble/long-lived", params=params).json()
        assert len(page["events"]) <= 3
        seen += [e["id"] for e in page["events"]]
        statuses.add(page["status"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids and statuses == {"status-6"}, "every page says the latest status"
    bad = server.admin.get("/api/voices/resemble/long-lived", params={"cursor": "nonsense"})
    assert_error_body(bad, 400, "invalid_query")


def test_listings_carry_a_summary_and_stop_at_a_size(server: Any) -> None:
    """Was: whole 1 MiB dataset issues in every listing (60 of them: 3.9 s, 60 MB, callbacks waiting)."""
    takes = [{"uuid": f"t{n}", "name": f"take_{n}.wav", "transcript": "words " * 20} for n in range(300)]
    for n in range(3):
        body = {"id": "heavy", "status": "dataset_issue", "issue": "i" * 5000 + str(n), "recordings": takes}
        assert server.post_callback(body).status_code == 202
    listed = server.admin.get("/api/events").json()["items"]
    assert [e["data"]["recordings_count"] for e in listed] == [300, 300, 300]
    assert all("recordings" not in e["data"] for e in listed)
    assert all(len(e["data"]["issue"]) == 1001 and e["data"]["issue"].endswith("…") for e in listed)
    timeline = server.admin.get("/api/voices/resemble/heavy").json()["events"]
    assert [e["data"]["recordings_count"] for e in timeline] == [300, 300, 300]
    whole = server.admin.get(f"/api/events/{listed[0]['id']}").json()
    assert len(whole["data"]["recordings"]) == 300 and len(whole["data"]["issue"]) == 5001


def test_a_listing_page_is_bounded_in_bytes() -> None:
    from webhook_app.store.summaries import PAGE_BYTES, within_page_bytes

    documents = [{"data": {"issue": "x" * (PAGE_BYTES // 3)}} for _ in range(10)]
    assert within_page_bytes(documents) == 2
    assert within_page_bytes([{"data": {"issue": "x" * (2 * PAGE_BYTES)}}] * 3) == 1, "one at the least"


@pytest.mark.parametrize("path", ["/api/events", "/api/deliveries", "/api/receipts"])
@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_time_whose_utc_form_leaves_the_calendar_is_400(server: Any, path: str, moment: str) -> None:
    """Was: 500 for a valid ISO time whose UTC form falls outside the years 1-9999."""
    for name in ("since", "until"):
        error = assert_error_body(server.admin.get(path, params={name: moment}), 400, "invalid_query")
        assert name in error["details"]


def test_the_events_page_refuses_such_a_time_without_failing(server: Any) -> None:
    client = httpx.Client(base_url=server.url, timeout=10)
    client.post("/ui/login", data={"token": ADMIN_TOKEN})
    page = client.get("/ui/events", params={"since": "0001-01-01T00:00:00+14:00"})
    assert page.status_code in (200, 400) and "years 1 to 9999" in page.text


def test_a_voice_id_holding_a_slash_opens_on_the_api_and_the_page(server: Any) -> None:
    """Was: 404 on the voice's page for an id such as `team/narrator`."""
    post(server, "team/narrator", "finished")
    voice = server.admin.get("/api/voices/resemble/team%2Fnarrator").json()
    assert voice["voice_id"] == "team/narrator"
    client = httpx.Client(base_url=server.url, timeout=10)
    client.post("/ui/login", data={"token": ADMIN_TOKEN})
    voices_page = client.get("/ui/events").text
    link = re.search(r'href="(/ui/voices/resemble/team[^"]*)"', voices_page)
    assert link is not None, voices_page[:2000]
    page = client.get(link.group(1))
    assert page.status_code == 200 and "team/narrator" in page.text


def test_the_re_record_list_downloads_as_csv_flagged_first(server: Any) -> None:
    takes = [
        {"uuid": "r1", "name": "take_1.wav", "transcript": "Fine.", "stoi_score": 0.9, "pesq_score": 3.1},
        {"uuid": "r2", "name": "=HYPERLINK(\"x\")", "transcript": "Noisy, and long", "stoi_score": 0.4,
         "is_outlier": True},
    ]  # fmt: skip
    (event_id,) = server.post_callback({"id": "v", "status": "dataset_issue", "recordings": takes}).json()[
        "event_ids"
    ]
    answer = server.admin.get(f"/api/events/{event_id}/recordings.csv")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
    assert f'filename="{event_id}-recordings.csv"' in answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert list(rows[0])[:4] == ["name", "transcript", "reasons", "stoi_score"]
    assert [r["name"] for r in rows] == ['\'=HYPERLINK("x")', "take_1.wav"], "flagged first, no formula"
    assert rows[0]["reasons"] == "outlier; low STOI" and rows[0]["stoi_score"] == "0.4"
    assert rows[0]["is_outlier"] == "true" and rows[1]["reasons"] == ""
    assert_error_body(server.admin.get("/api/events/evt_nope/recordings.csv"), 404)
    assert server.http.get(f"/api/events/{event_id}/recordings.csv").status_code == 401
    page = httpx.Client(base_url=server.url, timeout=10)
    page.post("/ui/login", data={"token": ADMIN_TOKEN})
    view = page.get(f"/ui/events/{event_id}").text
    assert f"/ui/events/{event_id}/recordings.csv" in view
    assert '"low" means below: STOI 0.7 · PESQ 2 · SI-SDR 10 dB · score 0.5' in view.replace("&#34;", '"')
    assert page.get(f"/ui/events/{event_id}/recordings.csv").text == answer.text


def test_low_score_floors_are_settable(settings: Any, make_server_for: Any) -> None:
    from webhook_app.config.settings import ConfigError, load_settings
    from webhook_app.model.recordings import set_low_scores

    assert load_settings({"WEBHOOK_APP_LOW_SCORES": "stoi_score=0.5, pesq_score=1.5"}).low_scores == {
        "stoi_score": 0.5, "pesq_score": 1.5,
    }  # fmt: skip
    with pytest.raises(ConfigError, match="'loudness' is not a score"):
        load_settings({"WEBHOOK_APP_LOW_SCORES": "loudness=3"})
    try:
        server = make_server_for(replace(settings, low_scores={"stoi_score": 0.3}))
        takes = [{"uuid": "r1", "name": "take_1.wav", "stoi_score": 0.4}]
        posted = server.post_callback({"id": "v", "status": "dataset_issue", "recordings": takes}).json()
        listed = server.admin.get(f"/api/events/{posted['event_ids'][0]}/recordings.csv").text
        assert next(csv.DictReader(io.StringIO(listed)))["reasons"] == "", (
            "0.4 is not low when the floor is 0.3"
        )
    finally:
        set_low_scores({})  # the floors are the process's: leave the defaults for the next test


def test_a_service_with_no_tokens_says_so_at_start(settings: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """Was: `web` with no admin tokens and no callback tokens started without a word."""
    from webhook_app import create_app

    app = create_app(replace(settings, admin_tokens=(), provider_tokens={}))
    app.extensions["webhook_app"].store.dispose()
    said = capsys.readouterr().err
    assert "only named keys open the admin API and the pages" in said, said
    assert "no callback tokens (WEBHOOK_APP_RESEMBLE_TOKENS): every callback will be answered 404" in said
    app = create_app(settings)
    app.extensions["webhook_app"].store.dispose()
    assert "only named keys" not in capsys.readouterr().err


def test_an_error_a_request_can_cause_is_answered_as_it_says_by_one_handler(settings: Any) -> None:
    """Views raise; `web/errors.py` answers each `WebhookAppError` with its status, code and
    details, and one without a status of its own as unexpected (500, nothing of its text)."""
    from webhook_app import create_app
    from webhook_app.errors import InvalidInput, WebhookAppError

    class Teapot(WebhookAppError):
        status, code = 418, "teapot"

    app = create_app(settings)

    def raising(kind: str) -> Any:
        if kind == "teapot":
            raise Teapot("short and stout")
        if kind == "input":
            raise InvalidInput("bad field", {"field": ["wrong"]}, status=422, code="invalid_thing")
        raise WebhookAppError("a secret inner detail")

    app.add_url_rule("/raise/<kind>", view_func=raising)
    client = app.test_client()
    teapot = client.get("/raise/teapot")
    assert teapot.status_code == 418
    assert teapot.json == {"error": {"code": "teapot", "message": "short and stout", "details": None}}
    invalid = client.get("/raise/input").json
    assert invalid == {
        "error": {"code": "invalid_thing", "message": "bad field", "details": {"field": ["wrong"]}}
    }
    unexpected = client.get("/raise/other")
    assert unexpected.status_code == 500 and "secret" not in unexpected.get_data(as_text=True)
