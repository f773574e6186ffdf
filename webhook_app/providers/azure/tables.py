"""Azure's own table: the long-running operations it tracks, on the service's metadata.

Its migration (`migrations/0003_azure_operations.py`) keeps the place it had in the one
revision chain when Azure lived in the core store, so existing databases need no step.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from webhook_app.store.tables import UTCDateTime, metadata

MIGRATIONS = str(Path(__file__).parent / "migrations")

azure_operations = sa.Table(
    "azure_operations",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("operation_url", sa.String(2000), nullable=False, unique=True),
    sa.Column("operation_id", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # personal_voice | consent
    sa.Column("resource_id", sa.String(200), nullable=False),
    sa.Column("status", sa.String(40), nullable=False),  # Azure's last word: NotStarted, Running, …
    sa.Column("state", sa.String(12), nullable=False),  # active | finished | stalled | error
    sa.Column("polls", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("interval_seconds", sa.Float(), nullable=False),
    sa.Column("next_poll_at", UTCDateTime(), nullable=False),
    sa.Column("locked_until", UTCDateTime(), nullable=True),
    sa.Column("locked_by", sa.String(100), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index(
        "ix_azure_operations_due",
        "next_poll_at",
        sqlite_where=sa.text("state = 'active'"),
        postgresql_where=sa.text("state = 'active'"),
    ),
    sa.Index("ix_azure_operations_created", "created_at"),
)
