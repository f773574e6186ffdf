"""Logging set up once per process: JSON lines for machines or plain text for people.

`LOG_FORMAT=auto` (the default) writes JSON when stderr is not a terminal, which is how
services run in production, and text when a person is watching.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

CONTEXT_FIELDS = ("receipt_id", "event_id", "delivery_id", "route", "operation_id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


_CALLBACK_TOKEN = re.compile(r"(/hooks/[A-Za-z0-9_-]+/)[^\s\"?/]+")


class RedactCallbackTokens(logging.Filter):
    """Callback URLs carry their token in the path; access logs and errors print paths."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _CALLBACK_TOKEN.sub(r"\1***", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


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


def formatter(log_format: str) -> logging.Formatter:
    return JSONFormatter() if resolve_format(log_format) == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(log_format: str = "auto", level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format))
    handler.addFilter(RedactCallbackTokens())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)


def gunicorn_logconfig(log_format: str, level: str) -> dict[str, Any]:
    """gunicorn's own lines (start, workers, errors) in the same format, through the root logger."""
    if resolve_format(log_format) == "json":
        chosen: dict[str, Any] = {"()": "webhook_app.logs.JSONFormatter"}
    else:
        chosen = {"format": TEXT_FORMAT}
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
