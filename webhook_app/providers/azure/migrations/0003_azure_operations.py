"""Tracked Azure long-running operations.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Moment = sa.DateTime(timezone=True)
ACTIVE = sa.text("state = 'active'")


def upgrade() -> None:
    op.create_table(
        "azure_operations",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("operation_url", sa.String(2000), nullable=False, unique=True),
        sa.Column("operation_id", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("resource_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("polls", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("interval_seconds", sa.Float(), nullable=False),
        sa.Column("next_poll_at", Moment, nullable=False),
        sa.Column("locked_until", Moment, nullable=True),
        sa.Column("locked_by", sa.String(100), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("updated_at", Moment, nullable=False),
    )
    op.create_index(
        "ix_azure_operations_due",
        "azure_operations",
        ["next_poll_at"],
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )
    op.create_index("ix_azure_operations_created", "azure_operations", ["created_at"])


def downgrade() -> None:
    op.drop_table("azure_operations")
