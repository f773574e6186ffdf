"""The voices list knows a voice's name, whether it is a consent, and test voices.

`name` is what its creator called it (`resemble create-voice --name`), `kind` what the
provider's resource is when it is not a voice (`consent`), and `test` marks voices only test
events (`routes check --send-test`) named, which the list hides unless asked.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("voices") as batch:
        batch.add_column(sa.Column("name", sa.String(200), nullable=True))
        batch.add_column(sa.Column("kind", sa.String(20), nullable=True))
        batch.add_column(sa.Column("test", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("voices") as batch:
        batch.drop_column("test")
        batch.drop_column("kind")
        batch.drop_column("name")
