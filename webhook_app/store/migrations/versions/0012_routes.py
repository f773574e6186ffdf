"""Routes as data: the routes every process reads, and a generation counter each change bumps.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "routes",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("handler", sa.String(200), nullable=False),
        sa.Column("events", Json, nullable=False),
        sa.Column("providers", Json, nullable=True),
        sa.Column("where", Json, nullable=False),
        sa.Column("retry", Json, nullable=False),
        sa.Column("rate_limit", sa.String(40), nullable=True),
        sa.Column("pause_after_failures", sa.Integer(), nullable=False),
        sa.Column("probe_seconds", sa.Float(), nullable=False),
        sa.Column("options", Json, nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("updated_at", Moment, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "generations",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("generation", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("generations")
    op.drop_table("routes")
