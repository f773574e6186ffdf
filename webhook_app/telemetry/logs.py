"""Logging set up once per process: JSON lines for machines or plain text for people.

`LOG_FORMAT=auto` (the default) writes JSON when stderr is not a terminal, which is how
services run in production, and text when a person is watching.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from webhook_app.model import signals
from webhook_app.model.text import printable

CONTEXT_FIELDS = ("receipt_id", "event_id", "delivery_id", "route", "operation_id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


_CALLBACK_TOKEN = re.compile(r"(/hooks/[A-Za-z0-9_-]+/)[^\s\"?/\\]+")  # not a backslash: JSON escapes


_PERCENT_UNRESERVED = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/")


def _decoded(match: re.Match[str]) -> str:
    """A percent-escape of a character tokens are made of (and `/`); any other stays escaped,
    so a JSON line stays JSON."""
    character = chr(int(match.group(1), 16))
    return character if character in _UNRESERVED else match.group()


class Redactor:
    """Takes every configured secret out of a log line, however the request spelt it.

    By value: a token reaches a line through many spellings of a path (`//`, `/./`, `%2F`,
    a query string, a Referer), so the values themselves are replaced, in the line as
    written and in its percent-decoded form (`%41` for `A` still authenticates). A
    callback path's last segment goes too, for tokens this process does not know.
    """

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        self.secrets: list[str] = []
        self.learn(secrets)
        signals.secrets_learned.connect(self._learned)

    def learn(self, secrets: Iterable[str]) -> None:
        """Also keep these out (their JSON-escaped spelling too), longest first."""
        values = {s for s in secrets if s} | {json.dumps(s)[1:-1] for s in secrets if s}
        self.secrets = sorted(set(self.secrets) | values, key=len, reverse=True)

    def _learned(self, _sender: Any, values: tuple[str, ...]) -> None:
        self.learn(values)

    def __call__(self, line: str) -> str:
        line = self._replace(line)
        if "%" in line:
            decoded = _PERCENT_UNRESERVED.sub(_decoded, line)
            if self._replace(decoded) != decoded:
                line = self._replace(decoded)
        return _CALLBACK_TOKEN.sub(r"\1***", line)

    def _replace(self, line: str) -> str:
        for secret in self.secrets:
            line = line.replace(secret, "***")
        return line


class TextFormatter(logging.Formatter):
    """Plain text, with control characters in messages escaped: one record, one line."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = printable(record.message)
        return super().formatMessage(record)


class RedactingFormatter(logging.Formatter):
    def __init__(self, inner: logging.Formatter, redact: Redactor) -> None:
        super().__init__()
        self.inner = inner
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(self.inner.format(record))


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def resolve_format(log_format: str) -> str:
    if log_format == "auto":
        return "text" if sys.stderr.isatty() else "json"
    return log_format


def formatter(log_format: str, secrets: tuple[str, ...] = ()) -> logging.Formatter:
    inner = JSONFormatter() if resolve_format(log_format) == "json" else TextFormatter(TEXT_FORMAT)
    return RedactingFormatter(inner, Redactor(secrets))


def configure_logging(log_format: str = "auto", level: str = "INFO", secrets: tuple[str, ...] = ()) -> None:
    """`secrets`: every token, key and password this process knows, to keep out of its lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format, secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # "Context impl SQLiteImpl." on every check


def gunicorn_logconfig(log_format: str, level: str, secrets: tuple[str, ...] = ()) -> dict[str, Any]:
    """gunicorn's own lines (start, workers, errors) in the same format, through the root logger."""
    chosen = {"()": "webhook_app.telemetry.logs.formatter", "log_format": log_format, "secrets": secrets}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"chosen": chosen},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "chosen", "stream": "ext://sys.stderr"}
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            "gunicorn.access": {"level": level, "handlers": [], "propagate": True},
        },
    }
