"""What `events show` and `receipts show` print for a person: the few lines that matter, each
value escaped (`text.printable`); `--json` prints the whole document instead."""

from __future__ import annotations

import base64
from typing import Any

from webhook_app.model.clock import isoformat
from webhook_app.model.recordings import summary_line
from webhook_app.model.text import printable


def event_lines(document: dict[str, Any], deliveries: list[dict[str, Any]]) -> list[str]:
    """The event's type, voice, status and issue, then each delivery with its attempts."""
    data = document.get("data") or {}
    voice = data.get("voice_id") or document.get("subject")
    lines = [
        f"{document['id']}  {document['type']}{'  (test)' if document.get('test') else ''}",
        f"  voice     {data.get('provider')} {voice}"
        + (f" ({data['voice_name']})" if data.get("voice_name") else ""),
        f"  time      {document['time']}",
    ]
    if "status" in data:
        lines.append(f"  status    {data['status']}" + ("" if data.get("ok") else " (not ok)"))
    issue = data.get("issue") or ((data.get("error") or {}).get("message"))
    if issue:
        lines.append(f"  issue     {issue}")
    recorded = data.get("recordings") or []
    if recorded or data.get("recordings_omitted"):
        lines.append(f"  dataset   {summary_line(recorded, data.get('recordings_omitted', 0))}")
    lines.append(f"  receipt   {document.get('receipt_id') or 'none'}")
    lines.append(f"deliveries: {len(deliveries) or 'none (no route matched)'}")
    for delivery in deliveries:
        replay = f", replays {delivery['replay_of']}" if delivery.get("replay_of") else ""
        lines.append(f"  {delivery['route']}: {delivery['status']}  {delivery['id']}{replay}")
        for attempt in delivery["attempts"]:
            answered = f", answered {attempt['status_code']}" if attempt.get("status_code") else ""
            took = f", {attempt['duration_ms']} ms" if attempt.get("duration_ms") is not None else ""
            error = f": {attempt['error']}" if attempt.get("error") else ""
            lines.append(
                f"    #{attempt['number']} {attempt['outcome']} {isoformat(attempt['finished_at'])}"
                f"{answered}{took}{error}"
            )
    return [printable(line) for line in lines]


def receipt_lines(receipt: dict[str, Any], shown_bytes: int = 2000) -> list[str]:
    """What arrived: when, from which provider, accepted or why not, its events, the body's start."""
    reason = receipt.get("reason") or {}
    lines = [
        f"{receipt['id']}  {receipt['provider']}  {receipt['status']}",
        f"  received  {isoformat(receipt['received_at'])}",
        f"  type      {receipt.get('content_type') or 'none given'}",
    ]
    if reason:
        lines.append(f"  refused   {reason.get('code')}: {reason.get('message')}")
    lines.append(f"  events    {', '.join(receipt['event_ids']) or 'none'}")
    body: bytes = receipt["body"]
    text = body[:shown_bytes].decode("utf-8", errors="replace")
    more = f" … ({len(body)} bytes in all; --json for the whole receipt)" if len(body) > shown_bytes else ""
    lines.append(f"  body      {text}{more}")
    return [printable(line) for line in lines]


def receipt_document(receipt: dict[str, Any]) -> dict[str, Any]:
    """A stored receipt as JSON can carry it: the body as text when it is UTF-8, else as base64,
    said by `body_encoding` (what `GET /api/receipts/<id>` and `receipts show --json` answer)."""
    raw: bytes = receipt["body"]
    try:
        body, encoding = raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        body, encoding = base64.b64encode(raw).decode(), "base64"
    return {**receipt, "body": body, "body_encoding": encoding}
