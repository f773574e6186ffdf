"""A voice's timeline is looked up by voice and provider: index both, then the order.

With only (voice_id, seq), SQLite without statistics preferred the provider index and
scanned every event of the provider (64 ms at 100,000 events instead of 2 ms).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_events_voice", "events")
    op.create_index("ix_events_voice", "events", ["voice_id", "provider", "seq"])


def downgrade() -> None:
    op.drop_index("ix_events_voice", "events")
    op.create_index("ix_events_voice", "events", ["voice_id", "seq"])
