"""The forward handler: Standard Webhooks signatures checked by the `standardwebhooks` library."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from marshmallow import ValidationError
from standardwebhooks import Webhook

from handlers.forward import ForwardHandler
from tests.conftest import load_fixture
from tests.providers.resemble.test_callbacks import normalize
from tests.sink import Reply, Sink
from webhook_app.errors import PermanentError, RetryableError

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def forward(url: str, **options: Any) -> ForwardHandler:
    handler = ForwardHandler.from_route_options(
        {"url": url, "secret": SECRET, "allow_private_targets": True, **options}
    )
    assert isinstance(handler, ForwardHandler)
    return handler


def test_posts_the_cloudevent_signed_so_an_independent_verifier_accepts_it(sink: Sink) -> None:
    event = normalize(load_fixture("resemble_dataset_issue.json"))
    forward(sink.url + "/in").handle(event)
    (request,) = sink.requests
    assert request.path == "/in"
    assert request.headers["Content-Type"] == "application/cloudevents+json"
    assert request.headers["webhook-id"] == event.id
    verified = Webhook(SECRET).verify(request.body, request.headers)
    assert verified == event.to_cloudevent()
    assert verified["data"]["recordings"][0]["si_sdr_score"] == 3.5


def test_a_tampered_body_fails_verification(sink: Sink) -> None:
    forward(sink.url).handle(normalize(load_fixture("resemble_finished.json")))
    (request,) = sink.requests
    with pytest.raises(Exception, match="(?i)signature"):
        Webhook(SECRET).verify(request.body.replace(b"finished", b"dataset_issue"), request.headers)


def test_the_same_event_keeps_its_webhook_id_across_retries(sink: Sink) -> None:
    event = normalize(load_fixture("resemble_finished.json"))
    handler = forward(sink.url)
    sink.respond = lambda _: Reply(status=500)
    with pytest.raises(RetryableError):
        handler.handle(event)
    sink.respond = lambda _: Reply(status=204, body=b"")
    handler.handle(event)
    assert [r.headers["webhook-id"] for r in sink.requests] == [event.id, event.id]


def test_410_is_permanent_and_other_errors_retry(sink: Sink) -> None:
    event = normalize(load_fixture("resemble_finished.json"))
    handler = forward(sink.url)
    sink.respond = lambda _: Reply(status=410, body=b"gone")
    with pytest.raises(PermanentError, match="410"):
        handler.handle(event)
    sink.respond = lambda _: Reply(status=400)
    with pytest.raises(RetryableError, match="400"):
        handler.handle(event)
    sink.respond = lambda _: Reply(status=429, headers={"Retry-After": "30"})
    with pytest.raises(RetryableError) as info:
        handler.handle(event)
    assert info.value.retry_after == 30


def test_redirects_are_not_followed(sink: Sink) -> None:
    sink.respond = lambda r: (
        Reply(status=307, headers={"Location": "/elsewhere"}) if r.path == "/" else Reply()
    )
    with pytest.raises(RetryableError, match="307"):
        forward(sink.url + "/").handle(normalize(load_fixture("resemble_finished.json")))
    assert [r.path for r in sink.requests] == ["/"]


def test_timeouts_are_retryable(sink: Sink) -> None:
    sink.respond = lambda _: Reply(delay=2)
    with pytest.raises(RetryableError, match="timed out"):
        forward(sink.url, timeout_seconds=0.3).handle(normalize(load_fixture("resemble_finished.json")))


@pytest.mark.parametrize("host", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "[::1]", "192.168.0.10"])
def test_private_literal_targets_are_refused_at_configuration(host: str) -> None:
    with pytest.raises(ValidationError) as info:
        ForwardHandler.from_route_options({"url": f"http://{host}:8080/hook", "secret": SECRET})
    assert "allow_private_targets" in str(info.value.messages["url"])


def test_a_name_resolving_to_loopback_is_refused_at_delivery_and_nothing_is_sent(sink: Sink) -> None:
    port = sink.url.rsplit(":", 1)[1]
    handler = ForwardHandler.from_route_options({"url": f"http://localhost:{port}/hook", "secret": SECRET})
    with pytest.raises(PermanentError, match=r"refused to connect to localhost \(127.0.0.1\)"):
        handler.handle(normalize(load_fixture("resemble_finished.json")))
    assert sink.requests == []


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("abc", "must start with 'whsec_'"),
        ("whsec_!!!", "not valid base64"),
        ("whsec_c2hvcnQ=", "at least 16 bytes"),
    ],
)
def test_bad_secrets_are_configuration_errors(secret: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ForwardHandler.from_route_options({"url": "https://example.com/hook", "secret": secret})
