"""What needs attention, from a terminal: `routes list|pause|resume`, `deliveries list`,
`receipts list`, `voices list`. Each listing prints a line per item for people, or with
`--json` one JSON object per line for scripts."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import click

from webhook_app.states import DeliveryStatus, ReceiptStatus, values

Line = Callable[[dict[str, Any]], str]


def echo_items(items: Sequence[dict[str, Any]], as_json: bool, line: Line, none: str) -> None:
    from webhook_app.cli import json_default

    for item in items:
        click.echo(json.dumps(item, default=json_default) if as_json else line(item))
    if not items and not as_json:
        click.echo(none)


def time_window(since: str | None, until: str | None) -> dict[str, datetime | None]:
    """`--since` and `--until` (a duration ago, or an ISO 8601 time) as moments."""
    from webhook_app.cli import _moment

    now = datetime.now(UTC)
    return {
        "since": _moment(since, now, "--since") if since else None,
        "until": _moment(until, now, "--until") if until else None,
    }


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def routes_list(as_json: bool) -> None:
    """Each configured route: state, waiting and dead deliveries, the last 24 hours' attempts."""
    from webhook_app.cli import command_settings, open_store
    from webhook_app.route_admin import describe_state, route_items

    settings = command_settings()

    def line(item: dict[str, Any]) -> str:
        counts, recent = item["counts"], item["last_24h"]
        latency = (
            f"p50 {recent['p50_ms']} ms, p99 {recent['p99_ms']} ms" if recent["attempts"] else "no attempts"
        )
        rate = f", at most {item['rate_limit']}" if item["rate_limit"] else ""
        return (
            f"{item['name']} ({item['handler']}{rate}): {describe_state(item)}; "
            f"{counts['pending']} pending, {counts['failed']} to retry, {counts['dead']} dead; "
            f"last 24 h: {recent['succeeded']}/{recent['attempts']} succeeded, {latency}"
        )

    items = route_items(open_store(settings), settings.routes, now=datetime.now(UTC))
    echo_items(items, as_json, line, "no routes")


@click.command("pause")
@click.argument("name")
def routes_pause(name: str) -> None:
    """Pause route NAME: its deliveries wait, spending no attempts, until it is resumed."""
    _set_paused(name, paused=True)


@click.command("resume")
@click.argument("name")
def routes_resume(name: str) -> None:
    """Resume route NAME: its waiting deliveries go out (within its rate limit)."""
    _set_paused(name, paused=False)


def _set_paused(name: str, *, paused: bool) -> None:
    from webhook_app.cli import command_settings, open_store
    from webhook_app.route_admin import UnknownRoute, describe_state, set_paused

    settings = command_settings()
    try:
        item, event = set_paused(open_store(settings), settings.routes, name, paused, now=datetime.now(UTC))
    except UnknownRoute:
        known = ", ".join(route.name for route in settings.routes)
        raise click.ClickException(f"no route named {name!r}; configured: {known}") from None
    done = "paused" if paused else "resumed"
    click.echo(
        f"{name}: {describe_state(item)}" + (f" ({event.type} {event.id})" if event else f", already {done}")
    )


@click.command("list")
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
    from webhook_app.cli import command_settings, json_default, open_store
    from webhook_app.store.records import DeliveryFilters
    from webhook_app.text import printable

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

    items, _ = open_store(command_settings()).list_deliveries(filters, limit=limit)
    echo_items(items, as_json, line, "no deliveries")


@click.command("list")
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
    from webhook_app.cli import command_settings, json_default, open_store
    from webhook_app.store.records import ReceiptFilters
    from webhook_app.text import printable

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

    items, _ = open_store(command_settings()).list_receipts(filters, limit=limit)
    echo_items(items, as_json, line, "no receipts")


@click.command("list")
@click.option("--provider")
@click.option("--search", "q", help="Part of a voice id.")
@click.option("--type", "last_type", help="Only voices whose latest event is of this type.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def voices_list(
    provider: str | None, q: str | None, last_type: str | None, limit: int, as_json: bool
) -> None:
    """Voices, most recent activity first, with their latest status (a few seconds behind the log)."""
    from webhook_app.cli import command_settings, json_default, open_store
    from webhook_app.text import printable

    def line(item: dict[str, Any]) -> str:
        return (
            f"{json_default(item['last_event_at'])}  {item['provider']:<9}  {printable(item['voice_id'])}  "
            f"{printable(item['status'])}  {item['last_event_type']}  {item['events']} event(s)"
        )

    items, _ = open_store(command_settings()).voice_list(
        provider=provider, q=q, last_type=last_type, limit=limit, cursor=None
    )
    shown = [{k: v for k, v in item.items() if k != "last_seq"} for item in items]  # last_seq: the cursor's
    echo_items(shown, as_json, line, "no voices")
