"""The schema, in SQLAlchemy Core, for SQLite and PostgreSQL alike. Migrations mirror it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

from webhook_app.model.states import DeliveryStatus

metadata = sa.MetaData()

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""A 64-bit key that is still SQLite's rowid alias (so it autoincrements there)."""

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Always an aware UTC datetime in Python; naive UTC text in SQLite, timestamptz in PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


receipts = sa.Table(
    "receipts",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("provider", sa.String(20), nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),  # accepted | rejected
    sa.Column("reason", Json, nullable=True),
    sa.Column("content_type", sa.String(200), nullable=True),
    sa.Column("headers", Json, nullable=False),
    sa.Column("body", sa.LargeBinary(), nullable=False),
    sa.Column("dedupe_key", sa.String(64), nullable=True, unique=True),
    sa.Index("ix_receipts_received_at", "received_at"),
    sa.Index(
        "ix_receipts_rejected",
        "received_at",
        "id",
        sqlite_where=sa.text("status = 'rejected'"),
        postgresql_where=sa.text("status = 'rejected'"),
    ),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(40), nullable=False, unique=True),
    sa.Column("receipt_id", sa.String(40), sa.ForeignKey("receipts.id"), nullable=True),
    sa.Column("provider", sa.String(20), nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("voice_id", sa.String(200), nullable=False),
    sa.Column("status", sa.String(100), nullable=False),
    sa.Column("occurred_at", UTCDateTime(), nullable=False),
    sa.Column("document", Json, nullable=False),
    sa.Index("ix_events_receipt", "receipt_id"),
    sa.Index("ix_events_voice", "voice_id", "provider", "seq"),
    sa.Index("ix_events_type", "type", "seq"),
    sa.Index("ix_events_provider", "provider", "seq"),
    sa.Index("ix_events_status", "status", "seq"),
    sa.Index("ix_events_occurred_at", "occurred_at", "seq"),
)

ui_sessions = sa.Table(
    "ui_sessions",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),  # SHA-256 of the cookie's session id, never the id
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Index("ix_ui_sessions_expires", "expires_at"),
)

sign_in_failures = sa.Table(
    "sign_in_failures",
    metadata,
    sa.Column("client", sa.String(100), primary_key=True),
    sa.Column("failures", sa.Integer(), nullable=False),
    sa.Column("window_started_at", UTCDateTime(), nullable=False),
)

DUE_STATUSES = (DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("event_id", sa.String(40), sa.ForeignKey("events.id"), nullable=False),
    sa.Column("route", sa.String(100), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),  # pending | succeeded | failed | dead
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
    sa.Column("locked_until", UTCDateTime(), nullable=True),
    sa.Column("locked_by", sa.String(100), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("replay_of", sa.String(40), nullable=True),  # the delivery this one replays
    sa.Index("ix_deliveries_event", "event_id"),
    sa.Index(
        "ix_deliveries_due",
        "next_attempt_at",
        sqlite_where=sa.text("status IN ('pending', 'failed')"),
        postgresql_where=sa.text("status IN ('pending', 'failed')"),
    ),
    sa.Index("ix_deliveries_status_route", "status", "route"),
    sa.Index("ix_deliveries_replay_of", "replay_of", unique=True),  # each delivery replayed once
)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("delivery_id", sa.String(40), sa.ForeignKey("deliveries.id"), nullable=False),
    sa.Column("number", sa.Integer(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime(), nullable=False),
    sa.Column("outcome", sa.String(12), nullable=False),  # succeeded | failed | dead | probe_failed
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("worker", sa.String(100), nullable=True),
    sa.Column("route", sa.String(100), nullable=True),  # the delivery's, for per-route health without a join
    sa.Column("status_code", sa.Integer(), nullable=True),  # the target's HTTP or SMTP code
    sa.Column("duration_ms", sa.Integer(), nullable=True),
    sa.Column("response", sa.Text(), nullable=True),  # the start of the target's answer, at most 1 KiB
    sa.Index("ix_attempts_delivery", "delivery_id", "id"),
    sa.Index("ix_attempts_route_finished", "route", "finished_at"),
)

route_states = sa.Table(
    "route_states",
    metadata,
    sa.Column("route", sa.String(100), primary_key=True),
    sa.Column("state", sa.String(12), nullable=False),  # active | paused
    sa.Column("paused_reason", sa.String(12), nullable=True),  # failures | manual
    sa.Column("paused_at", UTCDateTime(), nullable=True),
    sa.Column("consecutive_failures", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("last_failure_at", UTCDateTime(), nullable=True),
    sa.Column("next_probe_at", UTCDateTime(), nullable=True),  # while paused: when one delivery is tried
    sa.Column("next_send_at", UTCDateTime(), nullable=True),  # with a rate limit: the next free slot
    sa.Column("paused_seconds", sa.Float(), nullable=False, server_default="0"),  # summed over past pauses
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

routes = sa.Table(
    "routes",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("handler", sa.String(200), nullable=False),
    sa.Column("events", Json, nullable=False),  # ["voice.*", …]
    sa.Column("providers", Json, nullable=True),  # null: every provider
    sa.Column("where", Json, nullable=False),  # {"data.status": ["fail*"], …}, as in TOML
    sa.Column("retry", Json, nullable=False),  # {"max_attempts", "base_seconds", …}
    sa.Column("rate_limit", sa.String(40), nullable=True),
    sa.Column("pause_after_failures", sa.Integer(), nullable=False),
    sa.Column("probe_seconds", sa.Float(), nullable=False),
    sa.Column("options", Json, nullable=False),  # secrets sealed ({"sealed": …}) or "${VAR}"
    sa.Column("source", sa.String(8), nullable=False),  # file | api
    sa.Column("version", sa.Integer(), nullable=False),  # +1 on every change
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
)

generations = sa.Table(
    "generations",
    metadata,
    sa.Column("name", sa.String(40), primary_key=True),  # routes
    sa.Column("generation", sa.BigInteger(), nullable=False),  # +1 with every change of that kind
)

rollup_positions = sa.Table(
    "rollup_positions",
    metadata,
    sa.Column("name", sa.String(40), primary_key=True),  # events | attempts
    sa.Column("last_id", BigId, nullable=False),  # the last events.seq / attempts.id rolled up
)

voices = sa.Table(
    "voices",
    metadata,
    sa.Column("provider", sa.String(20), primary_key=True),
    sa.Column("voice_id", sa.String(200), primary_key=True),
    sa.Column("status", sa.String(100), nullable=False),
    sa.Column("last_event_type", sa.String(64), nullable=False),
    sa.Column("last_event_at", UTCDateTime(), nullable=False),
    sa.Column("last_seq", BigId, nullable=False),  # most recent activity first
    sa.Column("first_seen_at", UTCDateTime(), nullable=False),
    sa.Column("events", sa.Integer(), nullable=False),
    sa.Column("name", sa.String(200), nullable=True),  # what its creator called it
    sa.Column("kind", sa.String(20), nullable=True),  # the provider's resource when not a voice: consent
    sa.Column("test", sa.Boolean(), nullable=False, server_default=sa.false()),  # only test events named it
    sa.Index("ix_voices_last_seq", "last_seq"),
)

event_counts = sa.Table(
    "event_counts",
    metadata,
    sa.Column("bucket_start", UTCDateTime(), primary_key=True),  # the hour
    sa.Column("type", sa.String(64), primary_key=True),
    sa.Column("count", sa.Integer(), nullable=False),
)

attempt_counts = sa.Table(
    "attempt_counts",
    metadata,
    sa.Column("bucket_start", UTCDateTime(), primary_key=True),  # the hour
    sa.Column("route", sa.String(100), primary_key=True),
    sa.Column("succeeded", sa.Integer(), nullable=False),
    sa.Column("failed", sa.Integer(), nullable=False),
    sa.Column("dead", sa.Integer(), nullable=False),
    sa.Column("durations", Json, nullable=False),  # {"<upper bound ms>": count}, for p50 and p99
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(16), primary_key=True),  # the key's public part: how it is found
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),  # viewer | operator | admin
    sa.Column("salt", sa.String(32), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),  # sha256(salt + key): never the key itself
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("last_used_at", UTCDateTime(), nullable=True),  # written at most once a minute
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    sa.Column("revoked_by", sa.String(200), nullable=True),
    sa.Index(  # one live key per name; a revoked key's name may be given again
        "ix_api_keys_live_name",
        "name",
        unique=True,
        sqlite_where=sa.text("revoked_at IS NULL"),
        postgresql_where=sa.text("revoked_at IS NULL"),
    ),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),  # a key's name, env-N, cli:user@host, file:path
    sa.Column("action", sa.String(40), nullable=False),  # route.pause, key.create, prune, …
    sa.Column("target", sa.String(300), nullable=False),
    sa.Column("details", Json, nullable=False),  # before/after of configuration, secrets masked; counts
    sa.Index("ix_audit_log_at", "at"),
    sa.Index("ix_audit_log_actor", "actor", "id"),
    sa.Index("ix_audit_log_target", "target", "id"),
)
