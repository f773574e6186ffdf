"""`deliveries list|retry`: deliveries in bulk."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import click

from webhook_app.cli.common import (
    cli_actor,
    command_settings,
    confirm,
    echo_items,
    moment,
    open_store,
    routes_in_use,
    time_window,
)
from webhook_app.model.states import DeliveryStatus, values


@click.group()
def deliveries() -> None:
    """Deliveries in bulk."""


@deliveries.command("list")
@click.option("--status", type=click.Choice(values(DeliveryStatus)))
@click.option("--route")
@click.option("--event-type", help="e.g. voice.dataset.issue")
@click.option("--since", help="Created since: a duration ago (24h, 7d) or an ISO 8601 time.")
@click.option("--until", help="Created before: a duration ago or an ISO 8601 time.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def deliveries_list(
    status: str | None,
    route: str | None,
    event_type: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """The newest deliveries first, with their event, route, status and attempts."""
    from webhook_app.cli.common import command_settings, json_default, open_store
    from webhook_app.model.text import printable
    from webhook_app.store.records import DeliveryFilters

    window = time_window(since, until)
    filters = DeliveryFilters(
        status=status, route=route, event_type=event_type, since=window["since"], until=window["until"]
    )

    def line(item: dict[str, Any]) -> str:
        error = f"  {printable(item['last_error'])[:120]}" if item["last_error"] else ""
        columns: list[Any] = [
            json_default(item["created_at"]), f"{item['status']:<9}", f"{item['route']:<16}",
            f"{item['event_type']:<26}", printable(item["voice_id"]), f"{item['attempts']} attempt(s)",
            item["id"],
        ]  # fmt: skip
        return "  ".join(columns) + error

    items, _ = open_store(command_settings()).reads.list_deliveries(filters, limit=limit)
    echo_items(items, as_json, line, "no deliveries")


@deliveries.command("retry")
@click.option(
    "--status",
    type=click.Choice([DeliveryStatus.DEAD.value, DeliveryStatus.FAILED.value]),
    default=DeliveryStatus.DEAD.value,
    show_default=True,
)
@click.option("--route", help="Only deliveries of this route.")
@click.option("--since", help="Only those last changed since: a duration ago (24h, 7d) or an ISO 8601 time.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def deliveries_retry(status: str, route: str | None, since: str | None, yes: bool) -> None:
    """Replay every delivery in STATUS not replayed yet, each as a new delivery."""
    from webhook_app.usecases.replay import plan_retry, queue_retry

    settings = command_settings()
    store = open_store(settings)
    now = datetime.now(UTC)
    after = moment(since, now) if since else None
    planned = plan_retry(
        store, routes_in_use(settings, store).names(), status=status, route=route, since=after
    )
    asked = {"status": status, "route": route, "since": after}
    if not planned:
        click.echo(f"no {status} deliveries to retry")
        return
    confirm(f"Retry {len(planned)} {status} deliveries?", yes)
    with click.progressbar(length=len(planned), label="retrying", file=sys.stderr) as bar:
        queued = queue_retry(store, planned, asked=asked, by=cli_actor(), now=now, progress=bar.update)
    skipped = len(planned) - queued
    click.echo(
        f"{queued} deliveries queued again"
        + (f" ({skipped} replayed meanwhile by another)" if skipped else "")
    )
