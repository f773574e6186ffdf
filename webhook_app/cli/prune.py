"""`prune`: retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from webhook_app.cli.common import cli_actor, command_settings, confirm, open_store


@click.command()
@click.option("--older-than", required=True, help="Age to keep, e.g. 90d or 12h.")
@click.option(
    "--batch", default=1000, show_default=True, type=click.IntRange(1, 100_000), help="Rows per transaction."
)
@click.option(
    "--audit-older-than",
    help="Also remove audit entries older than this (kept otherwise, whatever --older-than says).",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be removed.")
@click.option("--yes", is_flag=True, help="Remove without asking (needed when no one can answer).")
def prune(older_than: str, audit_older_than: str | None, batch: int, dry_run: bool, yes: bool) -> None:
    """Delete old receipts, events and finished deliveries (never pending ones), in batches.

    Audit entries stay unless --audit-older-than is given; each prune is itself audited."""
    from webhook_app.config.plugins import provider_classes
    from webhook_app.model.clock import isoformat
    from webhook_app.store.audit import Audit

    now = datetime.now(UTC)
    before = now - timedelta(seconds=_age(older_than, "--older-than"))
    audit_before = (
        now - timedelta(seconds=_age(audit_older_than, "--audit-older-than")) if audit_older_than else None
    )
    store = open_store(command_settings())
    also = [rows for provider in provider_classes().values() for rows in provider.prunable()]
    counts = store.retention.prune_counts(before=before, also=also)
    if audit_before is not None:
        counts["audit entries"] = store.audit.count(before=audit_before)
    summary = ", ".join(f"{count} {name}" for name, count in counts.items())
    if not any(counts.values()):  # under cron, "nothing to do" is a success, not a question to refuse
        click.echo(f"nothing older than {isoformat(before)} to remove")
        return
    if dry_run:
        click.echo(f"older than {isoformat(before)}: {summary} would be removed")
        return
    confirm(f"Remove {summary} (older than {isoformat(before)})?", yes)
    click.echo(f"pruning what is older than {isoformat(before)}", err=True)
    audit = Audit(cli_actor(), "prune", f"older than {isoformat(before)}", now)
    removed = store.retention.prune(
        before=before,
        batch=batch,
        progress=lambda kind, n: click.echo(f"  removed {n} {kind}", err=True),
        also=also,
        audit=audit,
    )
    if audit_before is not None:
        target = f"audit entries older than {isoformat(audit_before)}"
        removed["audit entries"] = store.audit.prune(
            before=audit_before, audit=Audit(cli_actor(), "prune", target, now)
        )
    click.echo(", ".join(f"{count} {name}" for name, count in removed.items()) + " removed")


def _age(text: str, option: str) -> float:
    from webhook_app.config.settings import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None
