"""Rejected receipts listed newest first from an index of their own (accepted ones pay nothing).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

REJECTED = sa.text("status = 'rejected'")


def upgrade() -> None:
    op.create_index(
        "ix_receipts_rejected",
        "receipts",
        ["received_at", "id"],
        sqlite_where=REJECTED,
        postgresql_where=REJECTED,
    )


def downgrade() -> None:
    op.drop_index("ix_receipts_rejected", "receipts")
