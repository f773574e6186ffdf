"""Events listed by time are ordered by time, then seq: index both, so a page is found at once.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_events_occurred_at", "events")
    op.create_index("ix_events_occurred_at", "events", ["occurred_at", "seq"])


def downgrade() -> None:
    op.drop_index("ix_events_occurred_at", "events")
    op.create_index("ix_events_occurred_at", "events", ["occurred_at"])
