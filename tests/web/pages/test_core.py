"""What a use case refuses is answered once for every page (`web/pages/core.refused`)."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.conftest import load_fixture, signed_in_page


def flashes(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<div class="flash (\w+)" role="status">([^<]*)</div>', html)


def test_a_second_replay_press_says_it_was_done_already_on_the_page_it_came_from(server: Any) -> None:
    server.post_callback(load_fixture("resemble_finished.json"))
    (event,) = server.admin.get("/api/events").json()["items"]
    tab, csrf = signed_in_page(server, f"/ui/events/{event['id']}")

    first = tab.post(f"/ui/events/{event['id']}/replay", data={"csrf": csrf}, follow_redirects=True)
    second = tab.post(f"/ui/events/{event['id']}/replay", data={"csrf": csrf})

    assert first.status_code == 200 and flashes(first.text)[0][0] == "ok"
    assert second.status_code == 302 and second.headers["Location"] == f"/ui/events/{event['id']}"
    (flash,) = flashes(tab.get(second.headers["Location"]).text)
    assert flash[0] == "ok" and "just replayed" in flash[1]


def test_a_receipt_that_is_still_rejected_says_why_and_a_missing_one_gets_the_error_page(server: Any) -> None:
    body = json.dumps({"status": "finished"})  # no voice id: rejected, and rejected again
    receipt_id = server.post_callback(body).headers["X-Receipt-Id"]
    tab, csrf = signed_in_page(server, f"/ui/receipts/{receipt_id}")

    again = tab.post(
        f"/ui/receipts/{receipt_id}/reprocess", data={"csrf": csrf, "back": f"/ui/receipts/{receipt_id}"}
    )
    assert again.status_code == 302 and again.headers["Location"] == f"/ui/receipts/{receipt_id}"
    (flash,) = flashes(tab.get(again.headers["Location"]).text)
    assert flash[0] == "error" and flash[1]

    missing = tab.post("/ui/receipts/rcpt_nope/reprocess", data={"csrf": csrf})
    assert missing.status_code == 404 and "rcpt_nope" in missing.text and "<html" in missing.text.lower()
    unknown_route = tab.post("/ui/routes/nope/pause", data={"csrf": csrf})
    assert unknown_route.status_code == 404 and "nope" in unknown_route.text
