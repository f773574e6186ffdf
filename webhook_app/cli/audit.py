"""`audit list`: who changed what, newest first."""

from __future__ import annotations

import json
from typing import Any

import click

from webhook_app.cli.common import command_settings, echo_items, open_store, time_window


@click.group()
def audit() -> None:
    """The audit log: every change to routes and keys, replays, retries, reprocesses and prunes."""


@audit.command("list")
@click.option("--actor", help="Only changes by this key name or cli:user@host.")
@click.option("--action", help="Only this action, e.g. route.pause or key.revoke.")
@click.option("--target", help="Only changes to this route, event, receipt or key.")
@click.option("--since", help="A duration ago (24h, 7d) or an ISO 8601 time.")
@click.option("--until", help="A duration ago or an ISO 8601 time.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def audit_list(
    actor: str | None,
    action: str | None,
    target: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """The latest audit entries, newest first."""
    from webhook_app.model.clock import isoformat
    from webhook_app.store.audit import AuditFilters

    filters = AuditFilters(actor=actor, action=action, target=target, **time_window(since, until))
    items, _ = open_store(command_settings()).audit.entries(filters, limit=limit)

    def line(item: dict[str, Any]) -> str:
        details = json.dumps(item["details"], ensure_ascii=False, sort_keys=True)
        who = f"{item['actor']:<28} {item['action']:<17}"
        return f"{isoformat(item['at'])}  {who} {item['target']}  {details}"

    echo_items(items, as_json, line, "no audit entries")
