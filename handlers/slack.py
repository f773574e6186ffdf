"""The `slack` handler: a Block Kit message per event to an incoming webhook.

Route options: `webhook_url` (required), `timeout_seconds` (10). Messages stay within
Slack's limits (50 blocks, 3,000 characters a section, 150 a header) by listing at most
`MAX_LISTED` recordings and saying how many more there are.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from handlers.describe import Description, describe
from handlers.http import new_client, outcome, post
from webhook_app.model.events import Event
from webhook_app.plugins.handler import Delivered, Handler

MAX_LISTED = 20
SECTION_LIMIT = 3000
HEADER_LIMIT = 150


class SlackHandler(Handler):
    name = "slack"

    class Options(Schema):
        webhook_url = fields.Url(
            required=True, require_tld=False, schemes={"https", "http"}, metadata={"secret": True}
        )
        timeout_seconds = fields.Float(load_default=10.0, validate=validate.Range(min=0.1, max=120))

    def __init__(self, options: Any) -> None:
        super().__init__(options)
        self.client = new_client(self.options["timeout_seconds"])

    def handle(self, event: Event) -> Delivered:
        description = describe(event)
        payload = {
            "text": fallback_text(description),
            "blocks": blocks(description, event, self.event_page(event)),
        }
        response = post(self.client, self.options["webhook_url"], json=payload)
        # invalid_payload, no_service, channel_not_found, channel_is_archived …: retrying cannot help.
        return outcome(
            response,
            refused={400, 401, 403, 404, 410},
            refusal="Slack refused the message",
            failure="Slack answered",
        )

    def close(self) -> None:
        self.client.close()


def escape(text: str) -> str:
    """Slack mrkdwn needs only these three escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fallback_text(description: Description) -> str:
    """The notification text: Slack parses it as mrkdwn too, so `<!channel>` or a link in a
    voice id would ping or link from it unless escaped."""
    return clip(escape(f"{description.title}: {description.concerning}"), 300)


def blocks(description: Description, event: Event, page: str | None = None) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(description.title, HEADER_LIMIT)}},
    ]
    if description.summary:  # what to re-record comes first
        result.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{escape(description.summary)}*"}}
        )
    result += [
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": clip(f"*{name}*\n{escape(value)}", 2000)}
                for name, value in description.facts[:10]
            ],
        },
    ]
    if description.issue:
        result.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": clip(f"*Issue*\n{escape(description.issue)}", SECTION_LIMIT),
                },
            }
        )
    if description.flagged:
        listed = description.flagged[:MAX_LISTED]
        result.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*Flagged recordings ({len(description.flagged)})*"},
            }
        )
        for chunk in chunks([f"• {escape(line)}" for line in listed], SECTION_LIMIT):
            result.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})
        if len(description.flagged) > MAX_LISTED:
            more = len(description.flagged) - MAX_LISTED
            result.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"…and {more} more"}]})
    result.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"webhook-app · {event.type} · " + (f"<{page}|{event.id}>" if page else event.id),
                }
            ],
        }
    )
    return result


def chunks(lines: list[str], limit: int) -> list[str]:
    """Join lines into texts of at most `limit` characters (a longer single line is clipped)."""
    texts: list[str] = []
    current = ""
    for line in lines:
        line = clip(line, limit)
        if current and len(current) + 1 + len(line) > limit:
            texts.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        texts.append(current)
    return texts
