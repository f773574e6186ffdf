"""Each delivery is replayed at most once: the index on `replay_of` becomes unique.

Presses that raced before this could queue one delivery's replay several times; of such
replays the earliest keeps the link, and the later ones keep their history without it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE deliveries SET replay_of = NULL WHERE replay_of IS NOT NULL AND EXISTS ("
            " SELECT 1 FROM deliveries AS earlier WHERE earlier.replay_of = deliveries.replay_of"
            " AND (earlier.created_at < deliveries.created_at"
            "  OR (earlier.created_at = deliveries.created_at AND earlier.id < deliveries.id)))"
        )
    )
    op.drop_index("ix_deliveries_replay_of", "deliveries")
    op.create_index("ix_deliveries_replay_of", "deliveries", ["replay_of"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_deliveries_replay_of", "deliveries")
    op.create_index("ix_deliveries_replay_of", "deliveries", ["replay_of"])
