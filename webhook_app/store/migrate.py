"""Alembic, driven from Python: one migration history for SQLite and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
HEAD_REVISION = "0013"
"""The newest migration: checking that a schema is current then needs no alembic (the
larger part of a read-only command's start). tests/store/test_migrate.py keeps it in step."""


def version_locations() -> list[str]:
    """The service's revisions, then those of each installed provider that keeps tables."""
    from webhook_app.config.plugins import provider_classes

    providers = [cls.migrations for cls in provider_classes().values() if cls.migrations]
    return [str(MIGRATIONS / "versions"), *providers]


def _config(connection: sa.Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(version_locations()))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the schema up to `revision` (the newest by default)."""
    from alembic import command

    with engine.begin() as connection:
        command.upgrade(_config(connection), revision)


def downgrade(engine: sa.Engine, revision: str) -> None:
    """Take the schema back to `revision` (a rollback to a release whose newest it is)."""
    from alembic import command

    with engine.begin() as connection:
        command.downgrade(_config(connection), revision)


def head_revision() -> str | None:
    """The newest revision, as alembic reads the migration scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: sa.Engine) -> str | None:
    """The schema's revision, from alembic's own table (None before the first upgrade)."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def is_current(engine: sa.Engine) -> bool:
    return current_revision(engine) == HEAD_REVISION
