"""Receipts, events, deliveries and attempts.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Moment = sa.DateTime(timezone=True)
DUE = sa.text("status IN ('pending', 'failed')")


def upgrade() -> None:
    op.create_table(
        "receipts",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("received_at", Moment, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("reason", Json, nullable=True),
        sa.Column("content_type", sa.String(200), nullable=True),
        sa.Column("headers", Json, nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("dedupe_key", sa.String(64), nullable=True, unique=True),
    )
    op.create_index("ix_receipts_received_at", "receipts", ["received_at"])

    op.create_table(
        "events",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(40), nullable=False, unique=True),
        sa.Column("receipt_id", sa.String(40), sa.ForeignKey("receipts.id"), nullable=True),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("voice_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(100), nullable=False),
        sa.Column("occurred_at", Moment, nullable=False),
        sa.Column("document", Json, nullable=False),
    )
    op.create_index("ix_events_receipt", "events", ["receipt_id"])
    op.create_index("ix_events_voice", "events", ["voice_id", "seq"])
    op.create_index("ix_events_type", "events", ["type", "seq"])
    op.create_index("ix_events_provider", "events", ["provider", "seq"])
    op.create_index("ix_events_status", "events", ["status", "seq"])
    op.create_index("ix_events_occurred_at", "events", ["occurred_at"])

    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("event_id", sa.String(40), sa.ForeignKey("events.id"), nullable=False),
        sa.Column("route", sa.String(100), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", Moment, nullable=False),
        sa.Column("locked_until", Moment, nullable=True),
        sa.Column("locked_by", sa.String(100), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("updated_at", Moment, nullable=False),
    )
    op.create_index("ix_deliveries_event", "deliveries", ["event_id"])
    op.create_index(
        "ix_deliveries_due", "deliveries", ["next_attempt_at"], sqlite_where=DUE, postgresql_where=DUE
    )
    op.create_index("ix_deliveries_status_route", "deliveries", ["status", "route"])

    op.create_table(
        "attempts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.String(40), sa.ForeignKey("deliveries.id"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", Moment, nullable=False),
        sa.Column("finished_at", Moment, nullable=False),
        sa.Column("outcome", sa.String(12), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(100), nullable=True),
    )
    op.create_index("ix_attempts_delivery", "attempts", ["delivery_id", "id"])


def downgrade() -> None:
    op.drop_table("attempts")
    op.drop_table("deliveries")
    op.drop_table("events")
    op.drop_table("receipts")
