"""The web event log in a real headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, sync_playwright

from tests import setup_machine
from tests.conftest import ADMIN_TOKEN, REPO, deliver_due, load_fixture, with_routes
from tests.sink import Reply, Sink
from webhook_app.config.plugins import build_handlers
from webhook_app.model.retry import RetryPolicy
from webhook_app.model.routes import Route
from webhook_app.providers.azure.operations import NewOperation, OperationStore
from webhook_app.providers.resemble import callbacks as resemble
from webhook_app.runtime.dispatch import Dispatcher
from webhook_app.store import NewReceipt
from webhook_app.usecases.ingest import record_events

pytestmark = pytest.mark.slow  # real processes, a browser or a drill

CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = setup_machine.chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def site(settings: Any, make_server_for: Any, sink: Sink) -> Any:
    routes = (
        Route(name="partner", handler="tests.sink_handlers:SinkHandler", retry=RetryPolicy(max_attempts=1),
              options={"url": sink.url}),
        Route(name="log", handler="log"),
    )  # fmt: skip
    server = make_server_for(with_routes(settings, *routes))
    dispatcher = Dispatcher(server.store, routes, build_handlers(routes, "test"))
    yield server, dispatcher
    dispatcher.close()


def click_through(page: Page, target: str | Locator) -> None:
    """Click a link or a form's button and wait for the page it loads. A click returns once
    the navigation has begun; a count taken then can see a page still arriving (0 rows)."""
    with page.expect_navigation():
        if isinstance(target, str):
            page.click(target)
        else:
            target.click()


def sign_in(page: Page, base: str, token: str = ADMIN_TOKEN) -> None:
    page.fill("input[name=token]", token)
    click_through(page, "button[type=submit]")


def test_sign_in_filter_open_replay_and_see_the_new_attempt(site: Any, browser: Browser, sink: Sink) -> None:
    server, dispatcher = site
    sink.respond = lambda _: Reply(status=503)
    issue = server.post_callback(load_fixture("resemble_dataset_issue.json")).json()["event_ids"][0]
    server.post_callback(load_fixture("resemble_finished.json"))
    server.post_callback(load_fixture("resemble_consent_validation_failed.json"))
    deliver_due(dispatcher)  # the partner route fails once and is dead: three ops.delivery.dead events

    context = browser.new_context()
    page = context.new_page()
    visited: list[str] = []
    page.on("framenavigated", lambda frame: visited.append(frame.url))

    # Nothing is visible before signing in, not even by a deep link.
    page.goto(f"{server.url}/ui/events/{issue}")
    assert "/ui/login" in page.url
    assert "9b1c2d3e" not in page.content()
    sign_in(page, server.url, token="not-the-token")
    assert "That is not a live key." in page.inner_text("body")
    page.goto(f"{server.url}/ui/")
    sign_in(page, server.url)
    assert page.url.endswith("/ui/") and page.locator("h1").inner_text() == "Dashboard"
    click_through(page, "header a:text('Events')")
    assert page.url.endswith("/ui/events")
    assert page.locator("tbody tr").count() == 6
    assert page.locator("tbody tr", has_text="ops.delivery.dead").count() == 3
    cookie = next(c for c in context.cookies() if c["name"] == "webhook_app_session")
    assert cookie["httpOnly"] is True

    # Filter by type.
    page.select_option("select[name=type]", "voice.dataset.issue")
    click_through(page, "form.filters button[type=submit]")
    assert page.locator("tbody tr").count() == 1
    assert "type=voice.dataset.issue" in page.url

    # Open the event: normalized data, raw receipt, deliveries with attempts.
    click_through(page, "tbody tr td a >> nth=0")
    body = page.inner_text("body")
    assert "Detailed description of the dataset issue." in body
    assert "take_001.wav" in body and "0.41" in body
    assert "Raw receipt" in body and '"si_dr_score": "3.5"' in body
    assert page.locator("tr.delivery td.dead").count() == 1

    # The partner is back: replay to it and see the new attempt.
    sink.respond = lambda _: Reply(status=200)
    page.select_option("select[name=route]", "partner")
    click_through(page, "text=Replay")
    assert "Replay queued: partner." in page.inner_text("[role=status]")
    deliver_due(dispatcher)
    page.reload()
    rows = [row.split("\t") for row in page.locator("tr.delivery").all_inner_texts()]
    assert sorted((cells[0], cells[1]) for cells in rows) == [
        ("log", "succeeded"),
        ("partner", "dead"),
        ("partner", "succeeded (replay)"),
    ]
    replayed = next(cells for cells in rows if cells[1] == "succeeded (replay)")
    assert replayed[2].strip().startswith("#1 succeeded")

    # The voice page and the dead deliveries page.
    click_through(page, "h1 a")
    assert "Latest status: dataset_issue" in page.inner_text("body")
    click_through(page, "text=Dead deliveries")
    assert "answered 503" in page.inner_text("table")

    # A form post without the page's CSRF token is refused, even with the session cookie.
    forged = page.request.post(f"{server.url}/ui/events/{issue}/replay", form={"route": "partner"})
    assert forged.status == 400
    assert all(ADMIN_TOKEN not in url for url in visited), "the token never appears in a URL"
    click_through(page, "text=Sign out")
    page.goto(f"{server.url}/ui/dead")
    assert "/ui/login" in page.url
    context.close()


def test_the_routes_page_shows_health_and_pauses_and_resumes_a_route(
    site: Any, browser: Browser, sink: Sink
) -> None:
    server, dispatcher = site
    sink.respond = lambda _: Reply(status=503)
    server.post_callback(load_fixture("resemble_dataset_issue.json"))
    deliver_due(dispatcher)
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.url}/ui/routes")
    sign_in(page, server.url)
    page.goto(f"{server.url}/ui/routes")
    partner = page.locator("tr.route[data-route=partner]")
    assert "active" in partner.locator("td.state").inner_text()
    assert "1 dead" in partner.inner_text() and "0/1 succeeded" in partner.inner_text()
    save_screenshot(page, "ui-routes.png")
    click_through(page, partner.locator("button", has_text="Pause"))
    assert "partner: paused by hand." in page.inner_text("body")
    partner = page.locator("tr.route[data-route=partner]")
    assert "paused by hand" in partner.locator("td.state").inner_text()
    assert {r["name"]: r["state"] for r in server.admin.get("/api/routes").json()["items"]}[
        "partner"
    ] == "paused"
    click_through(page, partner.locator("button", has_text="Resume"))
    assert "active" in page.locator("tr.route[data-route=partner] td.state").inner_text()
    told = server.admin.get("/api/events", params={"provider": "webhook-app"}).json()["items"]
    assert [e["type"] for e in told] == ["ops.route.resumed", "ops.route.paused", "ops.delivery.dead"]
    context.close()


def test_rejected_receipts_show_why_and_reprocess_from_the_page(site: Any, browser: Browser) -> None:
    server, _ = site
    body = json.dumps(load_fixture("resemble_dataset_issue.json"))
    wrong_type = server.post_callback(body, headers={"Content-Type": "text/plain"}).headers["X-Receipt-Id"]
    server.post_callback({"status": "finished"})  # no id: stays rejected
    server.post_callback(load_fixture("resemble_finished.json"))
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    page.goto(f"{server.url}/ui/receipts")
    sign_in(page, server.url)
    page.goto(f"{server.url}/ui/receipts?state=rejected")
    rows = page.locator("tr.receipt")
    assert rows.count() == 2
    assert "invalid_callback" in rows.nth(0).inner_text() and "rejected" in rows.nth(0).inner_text()
    assert "unsupported_media_type" in rows.nth(1).inner_text()
    save_screenshot(page, "ui-receipts.png")
    click_through(page, page.locator(f"tr[data-receipt={wrong_type}] button", has_text="Reprocess"))
    assert "Accepted: 1 event(s) recorded." in page.inner_text("[role=status]")
    assert page.locator("tr.receipt").count() == 1, "it is accepted now"
    page.goto(f"{server.url}/ui/receipts/{wrong_type}")
    assert "accepted" in page.inner_text(".grid") and "9b1c2d3e" in page.inner_text("pre")
    context.close()


SCREENSHOTS = Path(
    os.environ.get("SCREENSHOTS_DIR") or Path(tempfile.gettempdir()) / "webhook-app-screenshots"
)
"""Where the pages' pictures go: outside the tree, unless asked (`SCREENSHOTS_DIR=docs` refreshes
the README's)."""


def save_screenshot(page: Page, name: str) -> None:
    """A picture of the page as the browser test walks it."""
    folder = SCREENSHOTS if SCREENSHOTS.is_absolute() else REPO / SCREENSHOTS
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name), full_page=True)


def dataset_issue_with(count: int) -> dict[str, Any]:
    """A dataset issue listing `count` recordings: every seventh an outlier, every eleventh silent,
    every fifth with a low STOI; the rest clean."""
    body = load_fixture("resemble_dataset_issue.json")
    body["recordings"] = [
        {
            "uuid": f"rec-{n}", "name": f"take_{n:03d}.wav", "transcript": f"Line {n}.",
            "stoi_score": 0.41 if n % 5 == 0 else 0.93, "pesq_score": 3.4, "si_sdr_score": 18.0,
            "resemble_sample_score": 0.86, "is_active": True,
            "is_outlier": n % 7 == 0, "is_silent": n % 11 == 0,
        }
        for n in range(1, count + 1)
    ]  # fmt: skip
    return body


def test_a_dataset_issue_says_what_to_re_record_first(site: Any, browser: Browser) -> None:
    server, _ = site
    (event_id,) = server.post_callback(dataset_issue_with(42)).json()["event_ids"]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{server.url}/ui/events/{event_id}")
    sign_in(page, server.url)
    page.goto(f"{server.url}/ui/events/{event_id}")
    flagged = {n for n in range(1, 43) if n % 5 == 0 or n % 7 == 0 or n % 11 == 0}
    assert page.inner_text("p.summary") == (
        f"{len(flagged)} of 42 recordings flagged: 6 outlier, 3 silent, 8 low STOI"
    )
    assert page.locator("p.counts .badge").all_inner_texts() == ["outlier: 6", "silent: 3", "low STOI: 8"]
    rows = page.locator("tr.recording")
    assert rows.count() == 42
    first = [rows.nth(i).locator("td").first.inner_text() for i in range(len(flagged))]
    assert {int(name[5:8]) for name in first} == flagged, "flagged recordings come first"
    take_35 = page.locator("tr.recording", has_text="take_035.wav")  # an outlier with a low STOI
    assert take_35.locator("td.bad").first.inner_text() == "outlier, low STOI"
    assert "0.41 ▼ low" in take_35.inner_text() and "yes ⚠" in take_35.inner_text()
    save_screenshot(page, "ui-dataset-issue.png")

    click_through(page, "th a:text('STOI')")
    assert page.locator("th a[aria-sort=ascending]").inner_text() == "STOI"
    lowest = page.locator("tr.recording").first.inner_text()
    assert "0.41" in lowest and "take_005.wav" in lowest
    context.close()


def test_a_long_list_of_recordings_is_paged(site: Any) -> None:
    server, _ = site
    (event_id,) = server.post_callback(dataset_issue_with(120)).json()["event_ids"]
    client = httpx.Client(base_url=server.url)
    client.post("/ui/login", data={"token": ADMIN_TOKEN})
    first = client.get(f"/ui/events/{event_id}")
    assert first.status_code == 200, first.text
    assert first.text.count('<tr class="recording') == 50 and "120 recordings" in first.text
    third = client.get(f"/ui/events/{event_id}?sort=name&page=3")
    assert third.text.count('<tr class="recording') == 20 and "take_101.wav" in third.text


def test_the_dashboard_charts_the_window_links_what_needs_attention_and_voices_are_searchable(
    site: Any, browser: Browser, sink: Sink
) -> None:
    server, dispatcher = site
    sink.respond = lambda request: Reply(status=503) if "reader" in request.body.decode() else Reply()
    now = datetime.now(UTC)
    statuses = ["dataset_issue", "finished", "processing", "consent_validation_failed"]
    routes = (Route(name="partner", handler="x"), Route(name="log", handler="log"))
    for n in range(40):  # one every half hour over the last 20 hours
        at = now - timedelta(minutes=30 * n)
        voice = ("narrator", "villain", "reader")[n % 3] + f"-{n % 5}"
        body = {"id": voice, "status": statuses[n % 4]}
        receipt = NewReceipt(provider="resemble", received_at=at, body=json.dumps(body).encode(), headers={})
        events = resemble.to_events(resemble.validate_callback(body), receipt_id=receipt.id, received_at=at)
        record_events(server.store, routes, receipt, events, dedupe_key=None, dedupe_window=timedelta(0))
    for _ in range(12):
        deliver_due(dispatcher)
    server.post_callback({"status": "finished"})  # a rejected receipt
    server.store.rollups.roll_up(now=now + timedelta(seconds=30))

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{server.url}/ui/")
    sign_in(page, server.url)
    chart = page.locator("svg.chart[aria-label='Events per type, last 24h']")
    assert chart.count() == 1 and chart.locator("rect").count() >= 20
    legend = page.locator("ul.legend").first.inner_text()
    assert "voice.dataset.issue: 10" in legend and "voice.training.succeeded: 10" in legend
    dead = page.locator("a.card", has_text="dead deliveries")
    assert dead.locator(".n").inner_text() == "13" and "alert" in (dead.get_attribute("class") or "")
    assert page.locator("a.card", has_text="rejected receipts").locator(".n").inner_text() == "1"
    assert page.locator("svg.chart[aria-label='Deliveries to partner, last 24h']").count() == 1
    save_screenshot(page, "ui-dashboard.png")
    click_through(page, "nav.windows a:text('7d')")
    assert page.locator("nav.windows [aria-current=page]").inner_text() == "7d"
    dead = page.locator("a.card", has_text="dead deliveries")
    click_through(page, dead)
    assert page.url.endswith("/ui/dead") and page.locator("tbody tr").count() == 13

    page.goto(f"{server.url}/ui/voices")
    assert page.locator("tr.voice").count() == 15
    page.fill("input[name=q]", "narrator")
    with page.expect_navigation():
        page.press("input[name=q]", "Enter")
    assert page.locator("tr.voice").count() == 5
    save_screenshot(page, "ui-voices.png")
    click_through(page, "tr.voice >> nth=0 >> a")
    assert "Timeline" in page.inner_text("h2") and page.locator("li.step").count() >= 2
    assert "partner: succeeded" in page.inner_text("ol.timeline")
    context.close()


def test_a_route_page_shows_each_attempt_with_the_answer_and_replays_its_dead(
    site: Any, browser: Browser, sink: Sink
) -> None:
    server, dispatcher = site
    sink.respond = lambda _: Reply(status=503, body=b"upstream busy")
    for name in ("resemble_dataset_issue.json", "resemble_finished.json"):
        server.post_callback(load_fixture(name))
    deliver_due(dispatcher)
    server.store.rollups.roll_up(now=datetime.now(UTC) + timedelta(seconds=30))  # what the worker's job does
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.url}/ui/routes")
    sign_in(page, server.url)
    page.goto(f"{server.url}/ui/routes")
    assert page.locator("tr.route[data-route=partner] svg.spark").count() == 1
    click_through(page, "tr.route[data-route=partner] a:text('partner')")
    attempts = page.locator("tr.attempt")
    assert attempts.count() == 2
    assert "#1 dead" in attempts.first.inner_text() and "503" in attempts.first.inner_text()
    attempts.first.locator("summary").click()
    assert attempts.first.locator("pre").inner_text() == "upstream busy"
    sink.respond = lambda _: Reply()
    page.select_option("select[name=since]", "1h")
    click_through(page, "button:text('Replay dead')")
    assert "2 dead deliveries of partner queued again." in page.inner_text("[role=status]")
    deliver_due(dispatcher)
    page.reload()
    assert [row.split("\t")[1] for row in page.locator("tr.attempt").all_inner_texts()][:2] == [
        "#1 succeeded", "#1 succeeded"
    ]  # fmt: skip
    context.close()


def test_the_pages_fit_a_phone_and_work_from_the_keyboard(site: Any, browser: Browser, sink: Sink) -> None:
    server, dispatcher = site
    sink.respond = lambda _: Reply(status=503)
    (event_id,) = server.post_callback(load_fixture("resemble_dataset_issue.json")).json()["event_ids"]
    server.post_callback({"status": "finished"})
    deliver_due(dispatcher)
    server.store.rollups.roll_up(now=datetime.now(UTC) + timedelta(seconds=30))
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(f"{server.url}/ui/")
    sign_in(page, server.url)
    for path in ("/ui/", "/ui/events", "/ui/voices", "/ui/routes", "/ui/routes/partner", "/ui/receipts",
                 "/ui/dead", f"/ui/events/{event_id}"):  # fmt: skip
        page.goto(f"{server.url}{path}")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{path} is {overflow} px wider than a phone"

    page.goto(f"{server.url}/ui/routes")
    for _ in range(60):  # Tab through the page to the first Pause button, then press Enter
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Pause":
            break
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "paused by hand" in page.inner_text("tr.route >> nth=0 >> td.state"), "the first route's button"
    context.close()


@pytest.fixture
def azure_in_site(site: Any) -> None:
    """Two tracked Azure operations in the site's store: one polled, one stopped by a refusal."""
    server, _ = site
    operations = OperationStore(server.store)
    url = "https://eastus.api.cognitive.microsoft.com/customvoice/operations/{}?api-version=2026-01-01"
    now = datetime.now(UTC)
    for name in ("Jessica-PersonalVoice", "Jessica-Consent"):
        new = NewOperation(
            url.format(name + "-op"), name + "-op", "personal_voice", name, interval_seconds=10
        )
        operations.track(new, now=now, limit=100)
    (stopped,) = operations.claim_due(
        worker="w", now=now + timedelta(seconds=20), limit=1, lease=timedelta(seconds=30)
    )
    with server.store.writing() as conn:  # stopped, as the poller does on a 401
        operations.move(
            conn,
            stopped,
            worker="w",
            state="error",
            polls=1,
            updated_at=now,
            last_error="Azure answered 401 Unauthorized: Access denied.",
        )


WORDS_BROKEN = """() => {
  const broken = [];
  const roots = document.querySelectorAll('table td:not(.free), table th, button, header a, nav a, .badge');
  for (const root of roots) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.parentElement.closest('.free, pre, details')) continue;
      for (const match of node.textContent.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const rects = [...range.getClientRects()].filter(r => r.width > 0);
        const lines = new Set(rects.map(r => Math.round(r.top)));
        if (lines.size > 1) broken.push(match[0]);
      }
    }
  }
  return broken;
}"""
"""Every word in a table cell (free text aside), a button, a chip or the navigation that the
browser laid out on more than one line: a word broken inside itself."""


def test_every_page_at_1280_and_390_px_breaks_no_word_inside_itself(
    site: Any, browser: Browser, sink: Sink, azure_in_site: Any
) -> None:
    """Was: "Paus/e", "Resu/me", "accepte/d", "ops.delivery.d/ead" and file names split at 390 px."""
    server, dispatcher = site
    sink.respond = lambda _: Reply(status=503, body=b"upstream busy")
    (issue,) = server.post_callback(dataset_issue_with(12)).json()["event_ids"]
    server.post_callback({"id": "a-voice-with-a-rather-long-identifier-0123456789", "status": "finished"})
    deliver_due(dispatcher)
    server.post_callback({"status": "finished"})  # a rejected receipt
    server.admin.post("/api/routes/log/pause")
    server.store.rollups.roll_up(now=datetime.now(UTC) + timedelta(seconds=30))
    receipt = server.admin.get("/api/receipts").json()["items"][0]["id"]
    voice = server.admin.get(f"/api/events/{issue}").json()["subject"]
    pages = {
        "dashboard": "/ui/", "events": "/ui/events", "event": f"/ui/events/{issue}", "voices": "/ui/voices",
        "voice": f"/ui/voices/resemble/{voice}", "routes": "/ui/routes", "route": "/ui/routes/partner",
        "route-paused": "/ui/routes/log", "dead": "/ui/dead", "dead-resolved": "/ui/dead?resolved=1",
        "receipts": "/ui/receipts", "receipt": f"/ui/receipts/{receipt}", "azure": "/ui/azure/",
    }  # fmt: skip
    for width in (1280, 390):
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        page.goto(f"{server.url}/ui/login")
        sign_in(page, server.url)
        for name, path in pages.items():
            response = page.goto(f"{server.url}{path}")
            assert response is not None and response.status == 200, path
            assert page.evaluate(WORDS_BROKEN) == [], f"{path} at {width} px"
            save_screenshot(page, f"{width}-{name}.png")
        context.close()


def test_the_azure_card_leads_to_the_operations_with_what_to_do(site: Any, azure_in_site: Any) -> None:
    """Was: "Azure operations stalled (0) or stopped (1)" linked to an empty event list."""
    server, _ = site
    client = httpx.Client(base_url=server.url, timeout=30)
    client.post("/ui/login", data={"token": ADMIN_TOKEN})
    dashboard = client.get("/ui/").text
    assert 'href="/ui/azure/?state=error"' in dashboard
    page = client.get("/ui/azure/", params={"state": "error"}).text
    assert "Jessica-" in page and "Azure answered 401 Unauthorized" in page
    assert "Polling stopped on Azure&#39;s refusal" in page and "webhook-app azure track" in page
    everything = client.get("/ui/azure/").text
    assert (
        everything.count("<tr><td") == 2
        and "Nothing: it is polled until Azure says it finished." in everything
    )


def test_the_route_and_voice_pages_say_what_an_on_call_engineer_needs(site: Any, sink: Sink) -> None:
    """Was: no target host, retry policy, pause threshold, next probe, or "never" on the route page;
    no dataset summary on the voice page."""
    server, _ = site
    (issue,) = server.post_callback(dataset_issue_with(12)).json()["event_ids"]
    voice = server.admin.get(f"/api/events/{issue}").json()["subject"]
    client = httpx.Client(base_url=server.url, timeout=30)
    client.post("/ui/login", data={"token": ADMIN_TOKEN})
    route = client.get("/ui/routes/partner").text
    assert "<code>127.0.0.1</code>" in route and "up to 1 attempts" in route
    assert "after 20 failed attempts in a row; probed every 60 s while paused" in route
    assert route.count(">never</span>") == 2, "no success and no failure yet"
    assert sink.url not in route, "the host only, never the whole URL"
    page = client.get(f"/ui/voices/resemble/{voice}").text
    assert (
        "Latest dataset issue" in page
        and "4 of 12 recordings flagged: 1 outlier, 1 silent, 2 low STOI" in page
    )


def test_ops_rows_read_as_problems_and_percentiles_say_they_are_bounds(site: Any, sink: Sink) -> None:
    """Was: an ops.delivery.dead row read as a green success with no issue, and the dashboard's
    p50 differed from the CLI's without saying it was a histogram bound."""
    server, dispatcher = site
    sink.respond = lambda _: Reply(status=503, body=b"down")
    server.post_callback({"id": "v-ops", "status": "finished"})
    deliver_due(dispatcher)
    server.store.rollups.roll_up(now=datetime.now(UTC) + timedelta(seconds=30))
    client = httpx.Client(base_url=server.url, timeout=30)
    client.post("/ui/login", data={"token": ADMIN_TOKEN})
    events = client.get("/ui/events", params={"type": "ops.delivery.dead"}).text
    assert 'route <a href="/ui/routes/partner">partner</a>' in events
    assert '<td class="nowrap bad">dead</td>' in events and "gave up after 1 attempts" in events
    assert "p50 ≤ " in client.get("/ui/").text


def test_a_viewer_sees_the_pages_without_a_button_and_an_operator_pauses(site: Any, browser: Browser) -> None:
    server, _ = site
    event_id = server.post_callback(load_fixture("resemble_dataset_issue.json")).json()["event_ids"][0]
    keys = {
        role: server.admin.post("/api/keys", json={"name": f"{role}-1", "role": role}).json()["key"]
        for role in ("viewer", "operator")
    }
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.url}/ui/")
    sign_in(page, server.url, token=keys["viewer"])
    assert page.locator("header .who").inner_text() == "viewer-1 · viewer"
    for path in ("/ui/routes", "/ui/routes/partner", f"/ui/events/{event_id}", "/ui/dead", "/ui/receipts"):
        page.goto(f"{server.url}{path}")
        assert page.locator("main form[method=post]").count() == 0, f"an action on {path}"
    assert page.locator("header a:text('Keys')").count() == 0
    click_through(page, "header a:text('Audit')")
    assert page.locator("h1").inner_text() == "Audit log"
    context.close()

    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.url}/ui/routes/partner")
    sign_in(page, server.url, token=keys["operator"])
    assert page.locator("header .who").inner_text() == "operator-1 · operator"
    assert page.locator("main a:text('Edit')").count() == 0, "routes are changed by admins"
    click_through(page, "main button:text('Pause')")
    page.goto(f"{server.url}/ui/audit")
    row = page.locator("tr.audit").first
    assert "operator-1" in row.inner_text() and "route.pause" in row.inner_text()
    context.close()
