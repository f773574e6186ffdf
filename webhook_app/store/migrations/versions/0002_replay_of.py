"""Replays: a delivery made by replay points at the one it replays.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("replay_of", sa.String(40), nullable=True))
    op.create_index("ix_deliveries_replay_of", "deliveries", ["replay_of"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_replay_of", "deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("replay_of")
