"""`prune`: retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from webhook_app.cli.common import command_settings, confirm, open_store


@click.command()
@click.option("--older-than", required=True, help="Age to keep, e.g. 90d or 12h.")
@click.option(
    "--batch", default=1000, show_default=True, type=click.IntRange(1, 100_000), help="Rows per transaction."
)
@click.option("--dry-run", is_flag=True, help="Only count what would be removed.")
@click.option("--yes", is_flag=True, help="Remove without asking (needed when no one can answer).")
def prune(older_than: str, batch: int, dry_run: bool, yes: bool) -> None:
    """Delete old receipts, events and finished deliveries (never pending ones), in batches."""
    from webhook_app.config.plugins import provider_classes
    from webhook_app.config.settings import parse_duration
    from webhook_app.model.clock import isoformat

    try:
        age = parse_duration(older_than)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from None
    before = datetime.now(UTC) - timedelta(seconds=age)
    store = open_store(command_settings())
    also = [rows for provider in provider_classes().values() for rows in provider.prunable()]
    counts = store.retention.prune_counts(before=before, also=also)
    summary = ", ".join(f"{count} {name}" for name, count in counts.items())
    if not any(counts.values()):  # under cron, "nothing to do" is a success, not a question to refuse
        click.echo(f"nothing older than {isoformat(before)} to remove")
        return
    if dry_run:
        click.echo(f"older than {isoformat(before)}: {summary} would be removed")
        return
    confirm(f"Remove {summary} (older than {isoformat(before)})?", yes)
    click.echo(f"pruning what is older than {isoformat(before)}", err=True)
    removed = store.retention.prune(
        before=before,
        batch=batch,
        progress=lambda kind, n: click.echo(f"  removed {n} {kind}", err=True),
        also=also,
    )
    click.echo(", ".join(f"{count} {name}" for name, count in removed.items()) + " removed")
