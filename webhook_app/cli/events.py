"""`events list|show|replay`: the event log."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from webhook_app.cli.common import (
    cli_actor,
    command_settings,
    json_default,
    known_event_types,
    moment,
    open_store,
    routes_in_use,
)


@click.group()
def events() -> None:
    """Read the event log."""


@events.command("list")
@click.option("--type", "type_", help="Event type, e.g. voice.dataset.issue.")
@click.option("--provider", help="A provider's name, as in its callback path (/hooks/<name>/…).")
@click.option("--voice-id")
@click.option("--status", help="The provider's status word.")
@click.option("--since", help="Only events since: a duration ago (24h, 7d) or an ISO 8601 time.")
@click.option("--until", help="Only events before: a duration ago or an ISO 8601 time.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
@click.option("--json", "as_json", is_flag=True, help="Print the events as JSON lines.")
def events_list(
    type_: str | None,
    provider: str | None,
    voice_id: str | None,
    status: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """The newest events first."""
    from webhook_app.model.text import printable
    from webhook_app.store import EventFilters

    if type_ is not None and type_ not in known_event_types():
        raise click.BadParameter(
            f"'{type_}' is no event type; known: {', '.join(known_event_types())}", param_hint="--type"
        )
    store = open_store(command_settings())
    now = datetime.now(UTC)
    moments = {
        name: moment(text, now, f"--{name}").isoformat()
        for name, text in (("since", since), ("until", until))
        if text
    }
    given = {"type": type_, "provider": provider, "voice_id": voice_id, "status": status} | moments
    filters = EventFilters()
    if any(given.values()):  # nothing to check otherwise (and marshmallow's import is a third of a run)
        from webhook_app.usecases.filters import parse_event_filters

        filters = parse_event_filters(given)
    items, _ = store.reads.list_events(filters, limit=limit)
    counts = store.reads.delivery_counts([item["id"] for item in items])
    for item in items:
        if as_json:
            click.echo(json.dumps({**item, "delivery_counts": counts[item["id"]]}))
        else:
            subject = printable(
                item["subject"]
            )  # a provider's text: no escape sequence may reach the terminal
            columns = (item["time"], f"{item['type']:<26}", f"{item['data']['provider']:<11}", subject)
            click.echo("  ".join((*columns, item["id"], _delivery_summary(counts[item["id"]]))))
    if not items and not as_json:
        click.echo("no events")


def _delivery_summary(counts: dict[str, int]) -> str:
    """`deliveries: 2 succeeded, 1 dead`, or `no deliveries`."""
    parts = [f"{n} {status}" for status, n in counts.items() if n]
    return "deliveries: " + ", ".join(parts) if parts else "no deliveries"


@events.command("show")
@click.argument("event_id")
@click.option("--json", "as_json", is_flag=True, help="The whole event and its deliveries as JSON.")
def events_show(event_id: str, as_json: bool) -> None:
    """One event: its type, voice and issue, its deliveries and their attempts."""
    from webhook_app.usecases.show import event_lines

    store = open_store(command_settings())
    document = store.reads.get_event(event_id)
    if document is None:
        raise click.ClickException(f"No event with id {event_id}.")
    deliveries = store.reads.deliveries_of(event_id)
    if as_json:
        click.echo(json.dumps({**document, "deliveries": deliveries}, indent=2, default=json_default))
        return
    click.echo("\n".join(event_lines(document, deliveries)))


@events.command("replay")
@click.argument("event_id")
@click.option("--route", help="Only this route (default: every configured route the event matches).")
def events_replay(event_id: str, route: str | None) -> None:
    """Deliver EVENT_ID again: new deliveries, the old history stays."""
    from webhook_app.usecases.replay import replay_event

    settings = command_settings()
    store = open_store(settings)
    routes = routes_in_use(settings, store).routes
    created = replay_event(store, routes, event_id, route=route, by=cli_actor(), now=datetime.now(UTC))
    for delivery in created:
        click.echo(f"{delivery['id']}  {delivery['route']}  pending")
