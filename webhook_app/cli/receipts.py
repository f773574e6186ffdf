"""`receipts list|show|reprocess`: requests as they arrived."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from webhook_app.cli.common import (
    cli_actor,
    command_settings,
    echo_items,
    json_default,
    open_store,
    routes_in_use,
    time_window,
)
from webhook_app.model.states import ReceiptStatus, values


@click.group()
def receipts() -> None:
    """Raw requests as they arrived."""


@receipts.command("list")
@click.option("--state", type=click.Choice(values(ReceiptStatus)), help="e.g. rejected: what was refused.")
@click.option("--provider")
@click.option("--since", help="Received since: a duration ago (24h, 7d) or an ISO 8601 time.")
@click.option("--until", help="Received before: a duration ago or an ISO 8601 time.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def receipts_list(
    state: str | None, provider: str | None, since: str | None, until: str | None, limit: int, as_json: bool
) -> None:
    """The newest receipts first: what arrived, and for a rejected one why (reprocess it by id)."""
    from webhook_app.cli.common import command_settings, json_default, open_store
    from webhook_app.model.text import printable
    from webhook_app.store.records import ReceiptFilters

    filters = ReceiptFilters(state=state, provider=provider, **time_window(since, until))

    def line(item: dict[str, Any]) -> str:
        error = item["error"] or {}
        why = f"  {error.get('code')}: {printable(str(error.get('message')))[:160]}" if error else ""
        columns = (
            json_default(item["received_at"]),
            f"{item['state']:<8}",
            f"{item['provider']:<11}",
            item["id"],
        )
        return "  ".join(columns) + why

    items, _ = open_store(command_settings()).reads.list_receipts(filters, limit=limit)
    echo_items(items, as_json, line, "no receipts")


@receipts.command("show")
@click.argument("receipt_id")
@click.option(
    "--json", "as_json", is_flag=True, help="The whole receipt as JSON (the body as text or base64)."
)
def receipts_show(receipt_id: str, as_json: bool) -> None:
    """One request as it arrived: accepted or why not, its events, its body."""
    from webhook_app.usecases.show import receipt_document, receipt_lines

    receipt = open_store(command_settings()).reads.get_receipt(receipt_id)
    if receipt is None:
        raise click.ClickException(f"No receipt with id {receipt_id}.")
    if not as_json:
        click.echo("\n".join(receipt_lines(receipt)))
        return
    click.echo(json.dumps(receipt_document(receipt), indent=2, default=json_default))


@receipts.command("reprocess")
@click.argument("receipt_ids", nargs=-1, required=True)
def receipts_reprocess(receipt_ids: tuple[str, ...]) -> None:
    """Validate rejected receipts again and record their events if they pass now."""
    from webhook_app.config.plugins import load_providers
    from webhook_app.usecases.reprocess import AlreadyReprocessed, ReprocessError, reprocess_receipt

    settings = command_settings()
    store = open_store(settings)
    providers = load_providers(settings)
    routes = routes_in_use(settings, store)
    failures = 0
    for receipt_id in receipt_ids:
        try:
            result = reprocess_receipt(
                store,
                routes.routes,
                providers,
                receipt_id,
                dedupe_window=timedelta(seconds=settings.dedupe_window),
                by=cli_actor(),
                now=datetime.now(UTC),
            )
        except AlreadyReprocessed as exc:  # done already: nothing to do, nothing failed
            click.echo(f"{receipt_id}: {exc}")
            continue
        except ReprocessError as exc:
            failures += 1
            click.echo(f"{receipt_id}: {exc}", err=True)
            continue
        if result.duplicate:
            click.echo(f"{receipt_id}: duplicate of {result.receipt_id}; nothing recorded")
        else:
            click.echo(f"{receipt_id}: accepted, events {', '.join(result.event_ids)}")
    if failures:
        sys.exit(1)
