"""`db upgrade|downgrade`: the schema."""

from __future__ import annotations

import click

from webhook_app.cli.common import command_settings, confirm, open_store


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (the Procfile's `release` step)."""
    from webhook_app.config.settings import redact_url
    from webhook_app.store import migrate

    settings = command_settings()
    store = open_store(settings, create=True)
    migrate.upgrade(store.engine)
    click.echo(f"schema at {migrate.current_revision(store.engine)} ({redact_url(settings.database_url)})")


@db.command("downgrade")
@click.argument("revision")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def db_downgrade(revision: str, yes: bool) -> None:
    """Take the schema back to REVISION, for a rollback: run it with the release you leave, giving the
    revision `db upgrade` printed for the release you go back to. What later revisions added goes."""
    from webhook_app.store import migrate

    settings = command_settings()
    store = open_store(settings, create=True)
    current = migrate.current_revision(store.engine)
    confirm(f"Take the schema from {current} back to {revision}?", yes)
    try:
        migrate.downgrade(store.engine, revision)
    except Exception as exc:  # alembic's word for a revision it does not know
        raise click.ClickException(f"cannot go back to {revision!r}: {exc}") from None
    click.echo(f"schema at {migrate.current_revision(store.engine)}")
