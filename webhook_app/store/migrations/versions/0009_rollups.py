"""Rollups: one row per voice, events per type per hour, attempts per route per hour.

The voices list, the dashboard and `/api/stats` read these instead of the event log, so they
stay fast at millions of events; a worker job keeps them up to date (store/rollups.py).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

Moment = sa.DateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "rollup_positions",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("last_id", BigId, nullable=False),
    )
    op.create_table(
        "voices",
        sa.Column("provider", sa.String(20), primary_key=True),
        sa.Column("voice_id", sa.String(200), primary_key=True),
        sa.Column("status", sa.String(100), nullable=False),
        sa.Column("last_event_type", sa.String(64), nullable=False),
        sa.Column("last_event_at", Moment, nullable=False),
        sa.Column("last_seq", BigId, nullable=False),
        sa.Column("first_seen_at", Moment, nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
    )
    op.create_index("ix_voices_last_seq", "voices", ["last_seq"])
    op.create_table(
        "event_counts",
        sa.Column("bucket_start", Moment, primary_key=True),
        sa.Column("type", sa.String(64), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
    )
    op.create_table(
        "attempt_counts",
        sa.Column("bucket_start", Moment, primary_key=True),
        sa.Column("route", sa.String(100), primary_key=True),
        sa.Column("succeeded", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("dead", sa.Integer(), nullable=False),
        sa.Column("durations", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("attempt_counts")
    op.drop_table("event_counts")
    op.drop_index("ix_voices_last_seq", "voices")
    op.drop_table("voices")
    op.drop_table("rollup_positions")
