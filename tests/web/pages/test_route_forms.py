"""Routes made, changed, tested and deleted from the pages, in a real browser."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser

from tests.conftest import load_fixture
from tests.sink import Sink
from tests.web.pages.test_pages import browser, click_through, sign_in  # noqa: F401 - browser: the fixture

pytestmark = pytest.mark.slow  # a browser


def test_a_route_is_made_edited_tested_and_deleted_from_the_pages(
    server: Any,
    browser: Browser,  # noqa: F811 - the fixture imported above
    sink: Sink,
) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.url}/ui/routes")
    sign_in(page, server.url)
    click_through(page, "a:text('New route')")
    page.select_option("select[name=handler]", "slack")
    click_through(page, "button:text('Show its fields')")
    page.fill("input[name=name]", "alerts")
    page.fill("input[name=events]", "voice.*")
    page.fill("input[name='option.webhook_url']", "not a url")
    page.fill("input[name=max_attempts]", "0")
    click_through(page, "button:text('Make the route')")
    assert page.locator(".field-error[data-field='options.webhook_url']").inner_text() == "Not a valid URL."
    assert (
        "greater than or equal to 1"
        in page.locator(".field-error[data-field='retry.max_attempts']").inner_text()
    )
    assert page.input_value("input[name=name]") == "alerts", "what was typed stays"

    page.fill("input[name='option.webhook_url']", f"{sink.url}/services/secret-path")
    page.fill("input[name=max_attempts]", "3")
    click_through(page, "button:text('Make the route')")
    assert page.url.endswith("/ui/routes/alerts") and "alerts: made" in page.inner_text("body")
    assert "api · v1" in page.inner_text("h1")

    click_through(page, "a:text('Edit')")
    assert page.input_value("input[name='option.webhook_url']") == "••••", "the secret is never shown"
    page.fill("input[name=events]", "voice.training.*")
    click_through(page, "button:text('Save')")
    assert "alerts: changed" in page.inner_text("body") and "voice.training.*" in page.inner_text(".grid")
    (item,) = [i for i in server.admin.get("/api/routes").json()["items"] if i["name"] == "alerts"]
    assert item["version"] == 2 and item["retry"]["max_attempts"] == 3 and item["updated_by"] == "env-1"

    click_through(page, "button:text('Send a test event')")
    told = page.inner_text("div.flash")
    assert "test voice.training." in told and told.endswith(": delivered"), told
    assert sink.requests[-1].path == "/services/secret-path", "the secret kept its value through the edit"

    server.post_callback(load_fixture("resemble_finished.json"))  # a delivery now waits for `alerts`
    click_through(page, "a:text('Delete')")
    assert "1 deliveries are waiting" in page.inner_text("body")
    page.check("input[name=discard]")
    click_through(page, "button:text('Delete alerts')")
    assert "alerts: deleted; 1 waiting deliveries ended as dead." in page.inner_text("body")
    assert page.locator("tr.route[data-route=alerts]").count() == 0
    context.close()
