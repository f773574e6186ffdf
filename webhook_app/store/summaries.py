"""An event as a listing shows it: its document without the recordings, the issue cut short.

A dataset issue can be a megabyte of recordings; a page of sixty of them, parsed and
serialised whole, held a web worker for seconds while callbacks waited behind it. The
database leaves the recordings out (and counts them) before a byte reaches Python, so a
listing costs the same whatever its events hold; the event's own page has everything.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from webhook_app.store.tables import Json, events

LISTED_ISSUE_CHARS = 1000
"""An issue longer than this is cut, with "…", in listings."""
PAGE_BYTES = 512 * 1024
"""A listing's page stops before its items' JSON passes this size (one item at the least)."""


def summary_columns(dialect: str) -> tuple[sa.ColumnElement[Any], ...]:
    """The document less `data.recordings`, their count, and the issue's first characters + 1."""
    if dialect == "postgresql":
        recordings = "events.document -> 'data' -> 'recordings'"
        return (
            sa.literal_column("events.document #- '{data,recordings}'", type_=Json).label("summary"),
            sa.literal_column(
                f"CASE WHEN jsonb_typeof({recordings}) = 'array' THEN jsonb_array_length({recordings}) END",
                type_=sa.Integer,
            ).label("recordings_count"),
            sa.literal_column(
                f"left(events.document -> 'data' ->> 'issue', {LISTED_ISSUE_CHARS + 1})", type_=sa.Text
            ).label("issue"),
        )
    return (
        sa.func.json_remove(events.c.document, "$.data.recordings", type_=Json).label("summary"),
        sa.func.json_array_length(events.c.document, "$.data.recordings", type_=sa.Integer).label(
            "recordings_count"
        ),
        sa.func.substr(
            sa.func.json_extract(events.c.document, "$.data.issue"), 1, LISTED_ISSUE_CHARS + 1, type_=sa.Text
        ).label("issue"),
    )


def as_listed(row: Any) -> dict[str, Any]:
    """The summary of one row of `summary_columns`: `data.recordings_count` in place of the
    recordings, and an issue over `LISTED_ISSUE_CHARS` cut with "…"."""
    document: dict[str, Any] = row.summary
    data = document.get("data")
    if isinstance(data, dict):
        if row.recordings_count is not None:
            data["recordings_count"] = row.recordings_count
        if isinstance(row.issue, str) and len(row.issue) > LISTED_ISSUE_CHARS:
            data["issue"] = row.issue[:LISTED_ISSUE_CHARS] + "…"
    return document


def within_page_bytes(documents: list[dict[str, Any]]) -> int:
    """How many of `documents`, from the first, fit in `PAGE_BYTES` (at least one)."""
    total = 0
    for count, document in enumerate(documents):
        total += len(json.dumps(document, default=str))
        if total > PAGE_BYTES and count > 0:
            return count
    return len(documents)
