"""The email handler against a real SMTP server (aiosmtpd), plain, STARTTLS and implicit TLS."""

from __future__ import annotations

import email
import ssl
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from handlers.email import EmailHandler
from tests.conftest import load_fixture
from tests.processes import free_port
from tests.providers.resemble.test_callbacks import normalize
from webhook_app.errors import PermanentError, RetryableError


class Mailbox:
    """Keeps every message; recipients at `busy.example` get 450, at `nowhere.example` 550."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.endswith("@busy.example"):
            return "450 4.2.1 Mailbox busy, try later"
        if address.endswith("@nowhere.example"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=default))  # type: ignore[arg-type]
        return "250 Message accepted"


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = auth_data.login == b"alerts" and auth_data.password == b"s3cret"
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd sends the 235/535 reply


@pytest.fixture
def smtp() -> Any:
    mailbox = Mailbox()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    yield controller, mailbox
    controller.stop()


def handler(port: int, **options: Any) -> EmailHandler:
    base = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from": "alerts@example.com",
        "to": ["ops@example.com"],
    }
    built = EmailHandler.from_route_options({**base, **options})
    assert isinstance(built, EmailHandler)
    return built


def parts(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


def test_dataset_issue_mail_has_subject_text_and_html_with_the_same_facts(smtp: Any) -> None:
    controller, mailbox = smtp
    event = normalize(load_fixture("resemble_dataset_issue.json"))
    handler(controller.port, to=["ops@example.com", "voice@example.com"]).handle(event)
    (message,) = mailbox.messages
    assert (
        message["Subject"]
        == "[webhook-app] Dataset issue: Resemble voice 9b1c2d3e-4f50-4a6b-8c7d-0e1f2a3b4c5d"
    )
    assert message["From"] == "alerts@example.com" and message["To"] == "ops@example.com, voice@example.com"
    assert message["X-Webhook-App-Event-Id"] == event.id
    plain, html = parts(message)
    summary = "1 of 1 recording flagged: 1 outlier, 1 low STOI, 1 low PESQ, 1 low SI-SDR, 1 low score"
    assert plain.splitlines()[2] == summary, "what to re-record comes right after the headline"
    assert f"<p><strong>{summary}</strong></p>" in html
    for text in (plain, html):
        assert "9b1c2d3e-4f50-4a6b-8c7d-0e1f2a3b4c5d" in text
        assert "Detailed description of the dataset issue." in text
        assert "take_001.wav: outlier, low STOI" in text
        assert "STOI 0.41 · PESQ 1.20 · SI-SDR 3.50 dB · score 0.22" in text
    assert html.startswith("<!doctype html>")


def test_html_part_escapes_provider_text(smtp: Any) -> None:
    controller, mailbox = smtp
    handler(controller.port).handle(
        normalize({"id": "v", "status": "dataset_issue", "issue": "<script>x</script>"})
    )
    _, html = parts(mailbox.messages[0])
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_login_when_configured(smtp: Any) -> None:
    controller, mailbox = smtp
    handler(controller.port, username="alerts", password="s3cret").handle(
        normalize(load_fixture("resemble_finished.json"))
    )
    assert len(mailbox.messages) == 1
    with pytest.raises(PermanentError, match="535"):
        handler(controller.port, username="alerts", password="wrong").handle(
            normalize(load_fixture("resemble_finished.json"))
        )


def test_temporary_smtp_refusal_retries_and_permanent_refusal_is_dead(smtp: Any) -> None:
    controller, _ = smtp
    event = normalize(load_fixture("resemble_finished.json"))
    with pytest.raises(RetryableError, match="450"):
        handler(controller.port, to=["ops@busy.example"]).handle(event)
    with pytest.raises(PermanentError, match="550"):
        handler(controller.port, to=["ops@nowhere.example"]).handle(event)


def test_unreachable_server_is_retryable() -> None:
    with pytest.raises(RetryableError, match="unreachable"):
        handler(free_port(), timeout_seconds=2).handle(normalize(load_fixture("resemble_finished.json")))


def test_starttls_verifies_the_server_certificate(
    tls_certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = tls_certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    mailbox = Mailbox()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=free_port(), tls_context=context, require_starttls=True
    )
    controller.start()
    try:
        event = normalize(load_fixture("resemble_finished.json"))
        with pytest.raises(RetryableError, match="(?i)certificate"):
            handler(controller.port, host="localhost", security="starttls").handle(event)
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # a private CA, as README explains
        handler(controller.port, host="localhost", security="starttls").handle(event)
    finally:
        controller.stop()
    assert len(mailbox.messages) == 1


def test_login_and_password_go_together() -> None:
    from marshmallow import ValidationError

    with pytest.raises(ValidationError, match="username and password"):
        handler(25, username="alerts")


def test_a_server_that_never_answers_times_out_and_is_retryable() -> None:
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts connections (kernel backlog) but never sends a greeting
        port = silent.getsockname()[1]
        with pytest.raises(RetryableError, match="(?i)timed out"):
            handler(port, timeout_seconds=0.5).handle(normalize(load_fixture("resemble_finished.json")))


def test_cr_lf_in_a_voice_id_cannot_break_or_add_headers(smtp: Any) -> None:
    """Was: a ValueError on every attempt, retried for a day."""
    controller, mailbox = smtp
    event = normalize(
        {**load_fixture("resemble_dataset_issue.json"), "id": "v1\r\nBcc: victim@example.com\n"}
    )
    handler(controller.port).handle(event)
    (message,) = mailbox.messages
    assert message["Bcc"] is None
    assert "\n" not in message["Subject"] and "v1 Bcc: victim@example.com" in message["Subject"]
    plain, _ = parts(message)
    assert "Bcc: victim@example.com" in plain, "the body keeps the provider's text as it was"


def test_messages_link_to_the_event_page_when_public_url_is_set(smtp: Any) -> None:
    controller, mailbox = smtp
    mailer = handler(controller.port)
    mailer.public_url = "https://hooks.example.com"
    event = normalize(load_fixture("resemble_dataset_issue.json"))
    mailer.handle(event)
    plain, html = parts(mailbox.messages[0])
    link = f"https://hooks.example.com/ui/events/{event.id}"
    assert f"See it: {link}" in plain and f"href='{link}'" in html


def test_an_ops_event_reads_as_what_happened_and_what_to_do_with_a_link() -> None:
    from handlers.email import compose
    from webhook_app.model.events import EventType
    from webhook_app.providers.resemble.callbacks import ResembleProvider
    from webhook_app.usecases.samples import sample_event

    event = sample_event(EventType.OPS_ROUTE_PAUSED, ResembleProvider)
    message = compose(
        event, "ops@example.com", ["oncall@example.com"], f"https://hooks.example.com/ui/events/{event.id}"
    )
    assert message["Subject"] == "[webhook-app] TEST A route paused itself: route example"
    text = message.get_body(("plain",)).get_content()
    assert f"See it: https://hooks.example.com/ui/events/{event.id}" in text
    assert "Route: example" in text and "Consecutive failures: 20" in text
    assert "webhook-app routes resume example" in text
    html = message.get_body(("html",)).get_content()
    assert "A route paused itself" in html and "routes resume example" in html
