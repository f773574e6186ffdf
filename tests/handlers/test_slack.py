"""The Slack handler against a real HTTP server standing in for an incoming webhook."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from handlers.slack import SlackHandler
from tests.conftest import load_fixture
from tests.providers.resemble.test_callbacks import normalize
from tests.sink import Reply, Sink
from webhook_app.errors import PermanentError, RetryableError
from webhook_app.model.events import EventType
from webhook_app.providers.resemble.callbacks import ResembleProvider
from webhook_app.usecases.samples import sample_event


@pytest.fixture
def slack(sink: Sink) -> Any:
    handler = SlackHandler.from_route_options({"webhook_url": sink.url, "timeout_seconds": 1})
    yield handler
    handler.close()


def sent(sink: Sink) -> dict[str, Any]:
    (request,) = sink.requests
    assert request.method == "POST" and request.headers["Content-Type"] == "application/json"
    return dict(request.json())


def texts(message: dict[str, Any]) -> str:
    return json.dumps(message["blocks"], ensure_ascii=False)


@pytest.mark.parametrize("event_type", [t for t in EventType if not t.is_ops])
def test_every_event_type_gets_a_header_and_the_key_facts(
    slack: Any, sink: Sink, event_type: EventType
) -> None:
    slack.handle(
        sample_event(event_type, "azure" if event_type is EventType.OPERATION_STALLED else ResembleProvider)
    )
    message = sent(sink)
    header = message["blocks"][0]
    facts = next(block for block in message["blocks"] if "fields" in block)
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    fields = [f["text"] for f in facts["fields"]]
    assert any(f.startswith("*Voice*\nwebhook-app-test") for f in fields)
    assert any(f.startswith("*Provider*") for f in fields) and any(f.startswith("*Status*") for f in fields)
    assert "webhook-app-test" in message["text"]


def test_dataset_issue_lists_flagged_recordings_with_their_scores(slack: Any, sink: Sink) -> None:
    slack.handle(normalize(load_fixture("resemble_dataset_issue.json")))
    message = sent(sink)
    assert message["blocks"][0]["text"]["text"] == "⚠️ Dataset issue"
    assert message["blocks"][1]["text"]["text"] == (
        "*1 of 1 recording flagged: 1 outlier, 1 low STOI, 1 low PESQ, 1 low SI-SDR, 1 low score*"
    ), "what to re-record heads the message"
    body = texts(message)
    assert "Detailed description of the dataset issue." in body
    assert "*Flagged recordings (1)*" in body
    assert "take_001.wav: outlier, low STOI, low PESQ, low SI-SDR, low score" in body
    assert "STOI 0.41 · PESQ 1.20 · SI-SDR 3.50 dB · score 0.22" in body


def test_training_success_is_short_and_positive(slack: Any, sink: Sink) -> None:
    slack.handle(normalize(load_fixture("resemble_finished.json")))
    message = sent(sink)
    assert message["blocks"][0]["text"]["text"] == "✅ Voice training succeeded"
    assert len(message["blocks"]) == 3  # header, facts, footer
    assert "Flagged" not in texts(message) and "Issue" not in texts(message)


def test_sixty_flagged_recordings_stay_within_slack_limits(slack: Any, sink: Sink) -> None:
    body = load_fixture("resemble_dataset_issue.json")
    template = body["recordings"][0]
    body["recordings"] = [
        {**template, "uuid": f"rec-{n}", "name": f"take_{n:03d}_{'x' * 80}.wav"} for n in range(60)
    ]
    body["issue"] = "Very long issue. " * 400
    slack.handle(normalize(body))
    message = sent(sink)
    blocks = message["blocks"]
    assert len(blocks) <= 50
    assert len(blocks[0]["text"]["text"]) <= 150
    for block in blocks:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000
        for field in block.get("fields", []):
            assert len(field["text"]) <= 2000
    listed = texts(message)
    assert "*Flagged recordings (60)*" in listed
    assert "take_000_" in listed and "take_019_" in listed and "take_020_" not in listed
    assert "…and 40 more" in listed


def test_user_text_is_escaped_for_mrkdwn(slack: Any, sink: Sink) -> None:
    slack.handle(
        normalize({"id": "<!channel> & co", "status": "dataset_issue", "issue": "<b>bad</b> & worse"})
    )
    body = texts(sent(sink))
    assert "&lt;!channel&gt; &amp; co" in body and "&lt;b&gt;bad&lt;/b&gt; &amp; worse" in body
    assert "<!channel>" not in body


def test_rate_limit_honours_retry_after(slack: Any, sink: Sink) -> None:
    sink.respond = lambda _: Reply(status=429, body=b"rate_limited", headers={"Retry-After": "7"})
    with pytest.raises(RetryableError) as info:
        slack.handle(normalize(load_fixture("resemble_finished.json")))
    assert info.value.retry_after == 7


@pytest.mark.slow  # a drill: it waits out a deadline
def test_server_errors_and_timeouts_are_retryable(slack: Any, sink: Sink) -> None:
    sink.respond = lambda _: Reply(status=503, body=b"unavailable")
    with pytest.raises(RetryableError, match="503"):
        slack.handle(normalize(load_fixture("resemble_finished.json")))
    sink.respond = lambda _: Reply(delay=2)
    with pytest.raises(RetryableError, match="timed out"):
        slack.handle(normalize(load_fixture("resemble_finished.json")))


@pytest.mark.parametrize(
    ("status", "text"), [(400, "invalid_payload"), (403, "action_prohibited"), (404, "no_service")]
)
def test_errors_retrying_cannot_fix_are_permanent_with_the_reason(
    slack: Any, sink: Sink, status: int, text: str
) -> None:
    sink.respond = lambda _: Reply(status=status, body=text.encode())
    with pytest.raises(PermanentError, match=f"Slack refused the message: {status} {text}"):
        slack.handle(normalize(load_fixture("resemble_finished.json")))


def test_unreachable_slack_is_retryable() -> None:
    handler = SlackHandler.from_route_options(
        {"webhook_url": "http://127.0.0.1:9/hook", "timeout_seconds": 1}
    )
    with pytest.raises(RetryableError, match="could not connect"):
        handler.handle(normalize(load_fixture("resemble_finished.json")))


def test_provider_text_is_escaped_in_every_field_slack_renders(slack: Any, sink: Sink) -> None:
    """Was: the top-level `text` (the notification) carried `<!channel>` and links raw."""
    hostile = "<!channel> <https://evil.example|click> & <@U123>"
    event = sample_event(EventType.DATASET_ISSUE, ResembleProvider, voice_id=hostile)
    slack.handle(event)
    message = sent(sink)

    def rendered(value: Any) -> list[str]:
        if isinstance(value, dict):
            return [text for item in value.values() for text in rendered(item)]
        if isinstance(value, list):
            return [text for item in value for text in rendered(item)]
        return [value] if isinstance(value, str) else []

    every_text = rendered(message)
    assert any("&lt;!channel&gt;" in text for text in [message["text"]])
    for text in every_text:
        assert "<!channel>" not in text and "<https://evil" not in text and "<@U123>" not in text, text


def test_messages_link_to_the_event_page_when_public_url_is_set(slack: Any, sink: Sink) -> None:
    slack.public_url = "https://hooks.example.com"
    event = sample_event(EventType.DATASET_ISSUE, ResembleProvider)
    slack.handle(event)
    context = sent(sink)["blocks"][-1]["elements"][0]["text"]
    assert f"<https://hooks.example.com/ui/events/{event.id}|{event.id}>" in context


@pytest.mark.parametrize("event_type", [t for t in EventType if t.is_ops])
def test_ops_events_say_what_happened_what_to_do_and_link_the_page(sink: Sink, event_type: EventType) -> None:
    slack = SlackHandler.from_route_options({"webhook_url": sink.url})
    slack.public_url = "https://hooks.example.com"
    event = replace(sample_event(event_type, ResembleProvider), test=False)
    slack.handle(event)
    slack.close()
    message = sent(sink)
    body = texts(message)
    expected = {
        EventType.OPS_DELIVERY_DEAD: ("💀 A delivery is dead", "*Route*\\nexample", "events replay"),
        EventType.OPS_ROUTE_PAUSED: ("⏸️ A route paused itself", "*Consecutive failures*\\n20", "resume"),
        EventType.OPS_ROUTE_RESUMED: ("▶️ A route works again", "*Paused for*\\n12 min 0 s", "a probe"),
        EventType.OPS_AZURE_UNAUTHORIZED: (
            "🔑 Azure refused the subscription key", "*Azure answered*\\n401", "WEBHOOK_APP_AZURE_SPEECH_KEY"
        ),
    }[event_type]  # fmt: skip
    assert message["blocks"][0]["text"]["text"] == expected[0]
    assert expected[1] in body and expected[2] in body
    assert f"<https://hooks.example.com/ui/events/{event.id}|{event.id}>" in body
    assert message["text"].startswith(expected[0])
