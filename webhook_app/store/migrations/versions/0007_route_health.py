"""Route health: each attempt's status code, duration and answer; route state (pause, probe, rate limit).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("route", sa.String(100), nullable=True))
        batch.add_column(sa.Column("status_code", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("duration_ms", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("response", sa.Text(), nullable=True))
    op.execute(
        "UPDATE attempts SET route = (SELECT deliveries.route FROM deliveries "
        "WHERE deliveries.id = attempts.delivery_id)"
    )
    op.create_index("ix_attempts_route_finished", "attempts", ["route", "finished_at"])
    op.create_table(
        "route_states",
        sa.Column("route", sa.String(100), primary_key=True),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("paused_reason", sa.String(12), nullable=True),
        sa.Column("paused_at", Moment, nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_failure_at", Moment, nullable=True),
        sa.Column("next_probe_at", Moment, nullable=True),
        sa.Column("next_send_at", Moment, nullable=True),
        sa.Column("paused_seconds", sa.Float(), nullable=False, server_default="0"),
        sa.Column("updated_at", Moment, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("route_states")
    op.drop_index("ix_attempts_route_finished", "attempts")
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("response")
        batch.drop_column("duration_ms")
        batch.drop_column("status_code")
        batch.drop_column("route")
