"""The `email` handler: one message per event over SMTP, plain text and HTML with the same facts as Slack.

Route options: `host`, `port` (25 / 587 with STARTTLS / 465 with SSL by default), `security`
(`none` | `starttls` | `ssl`), `username`, `password`, `from`, `to` (list), `timeout_seconds`.
SMTP 4xx answers are temporary (retry); 5xx are permanent.
"""

from __future__ import annotations

import html
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from handlers.describe import Description, describe
from webhook_app.errors import PermanentError, RetryableError
from webhook_app.model.events import Event
from webhook_app.model.text import CONTROL_CHARACTERS
from webhook_app.outbound import Deadline
from webhook_app.plugins.handler import Delivered, Handler

DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
SUBJECT_CHARS = 200
_CONTROL_RUNS = re.compile(f"(?:{CONTROL_CHARACTERS.pattern})+")


class EmailHandler(Handler):
    name = "email"

    class Options(Schema):
        host = fields.String(required=True, validate=validate.Length(min=1))
        port = fields.Integer(load_default=None, validate=validate.Range(min=1, max=65535))
        security = fields.String(load_default="starttls", validate=validate.OneOf(DEFAULT_PORTS))
        username = fields.String(load_default=None)
        password = fields.String(load_default=None, metadata={"secret": True})
        sender = fields.Email(required=True, data_key="from")
        to = fields.List(fields.Email(), required=True, validate=validate.Length(min=1))
        timeout_seconds = fields.Float(load_default=15.0, validate=validate.Range(min=0.1, max=300))

        @validates_schema
        def login_needs_both(self, data: dict[str, Any], **_: Any) -> None:
            if bool(data.get("username")) != bool(data.get("password")):
                raise ValidationError("set both username and password, or neither", "password")

    def handle(self, event: Event) -> Delivered:
        try:
            message = compose(event, self.options["sender"], self.options["to"], self.event_page(event))
        except (ValueError, TypeError) as exc:  # the same event fails the same way every time
            raise PermanentError(f"cannot write this event as an email: {exc}") from exc
        smtp = self._client()
        timeout = self.options["timeout_seconds"]
        deadline = Deadline(timeout, lambda: getattr(smtp, "sock", None))
        try:
            with deadline:
                code, answer = self._send(smtp, message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            refusals = _describe_refusals(exc.recipients)
            raise _classified(min(codes), f"all recipients refused: {refusals}", refusals) from exc
        except smtplib.SMTPResponseException as exc:
            text = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            raise _classified(exc.smtp_code, f"SMTP {exc.smtp_code} {text}", text) from exc
        except (smtplib.SMTPException, OSError) as exc:
            if deadline.expired:
                raise RetryableError(f"timed out: the SMTP exchange took more than {timeout:g} s") from exc
            raise RetryableError(f"SMTP server unreachable or dropped the connection: {exc}") from exc
        finally:
            smtp.close()
        return Delivered(code, answer)

    def _client(self) -> smtplib.SMTP:
        """Not connected yet, so that the deadline covers the connection and the greeting too."""
        timeout = self.options["timeout_seconds"]
        if self.options["security"] == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(timeout=timeout, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(timeout=timeout)
        # What the constructor would set when it connects: TLS checks the certificate against it.
        smtp._host = self.options["host"]  # type: ignore[attr-defined]
        return smtp

    def _send(self, smtp: smtplib.SMTP, message: EmailMessage) -> tuple[int, str]:
        """Send; the server's answer to the end of the message (`250 OK …`)."""
        security = self.options["security"]
        smtp.connect(self.options["host"], self.options["port"] or DEFAULT_PORTS[security])
        if security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if self.options["username"]:
            smtp.login(self.options["username"], self.options["password"])
        answers: list[tuple[int, bytes]] = []
        send_data = smtp.data

        def data(msg: Any) -> tuple[int, bytes]:  # send_message keeps the answer to DATA to itself
            answers.append(send_data(msg))
            return answers[-1]

        smtp.data = data  # type: ignore[method-assign]
        smtp.send_message(message)
        smtp.quit()
        code, answer = answers[-1] if answers else (250, b"")
        return code, answer.decode(errors="replace")


def _classified(code: int, message: str, answer: str) -> RetryableError | PermanentError:
    if 400 <= code < 500:
        return RetryableError(message, status_code=code, response=answer)
    return PermanentError(message, status_code=code, response=answer)


def _describe_refusals(refusals: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{rcpt} {code} {text.decode(errors='replace')}" for rcpt, (code, text) in refusals.items()
    )


def subject(description: Description) -> str:
    """One header line: control characters a provider sent (CR/LF in a voice id made every
    attempt fail) become spaces, and the line stays short enough to fold."""
    kind = f"TEST {description.headline}" if description.test else description.headline
    text = f"[webhook-app] {kind}: {description.concerning}"
    return clip(_CONTROL_RUNS.sub(" ", text), SUBJECT_CHARS)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def compose(event: Event, sender: str, recipients: list[str], page: str | None = None) -> EmailMessage:
    description = describe(event)
    message = EmailMessage()
    message["Subject"] = subject(description)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="webhook-app")
    message["X-Webhook-App-Event-Id"] = event.id
    message.set_content(plain_text(description, page))
    message.add_alternative(html_text(description, page), subtype="html")
    return message


def plain_text(description: Description, page: str | None = None) -> str:
    lines = [description.title, ""]
    if description.summary:  # what to re-record comes first
        lines += [description.summary, ""]
    if page:
        lines += [f"See it: {page}", ""]
    lines += [f"{name}: {value}" for name, value in description.facts]
    if description.issue:
        lines += ["", "Issue:", description.issue]
    if description.flagged:
        lines += ["", f"Flagged recordings ({len(description.flagged)}):"]
        lines += [f"  - {line}" for line in description.flagged]
    return "\n".join(lines) + "\n"


def html_text(description: Description, page: str | None = None) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><th align='left' style='padding-right:12px'>{e(name)}</th><td>{e(value)}</td></tr>"
        for name, value in description.facts
    )
    parts = [f"<h2>{e(description.title)}</h2>"]
    if description.summary:
        parts.append(f"<p><strong>{e(description.summary)}</strong></p>")
    parts.append(f"<table>{rows}</table>")
    if page:
        parts.append(f"<p><a href='{e(page)}'>See it in webhook-app</a></p>")
    if description.issue:
        parts.append(f"<h3>Issue</h3><p>{e(description.issue)}</p>")
    if description.flagged:
        items = "".join(f"<li>{e(line)}</li>" for line in description.flagged)
        parts.append(f"<h3>Flagged recordings ({len(description.flagged)})</h3><ul>{items}</ul>")
    return "<!doctype html><html><body style='font-family:sans-serif'>" + "".join(parts) + "</body></html>\n"
