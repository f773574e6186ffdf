"""`routes list|show|pause|resume|check|reload` (and `add|edit|remove|apply|export`, in
`route_changes.py`): the routes in the database as people see and steer them."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from webhook_app.cli.common import (
    cli_actor,
    command_settings,
    echo_items,
    json_default,
    known_event_types,
    open_store,
)
from webhook_app.cli.route_changes import routes_add, routes_apply, routes_edit, routes_export, routes_remove

if TYPE_CHECKING:
    pass


@click.group()
def routes() -> None:
    """The routes in the database, which every process uses."""


routes.add_command(routes_add)
routes.add_command(routes_edit)
routes.add_command(routes_remove)
routes.add_command(routes_apply)
routes.add_command(routes_export)


def _items(only: str | None = None) -> list[dict[str, Any]]:
    from webhook_app.usecases.route_admin import route_items
    from webhook_app.usecases.route_book import open_route_book

    settings = command_settings()
    store = open_store(settings)
    book = open_route_book(store, settings)
    return route_items(store, book, book.load(), now=datetime.now(UTC), only=only)


def _line(item: dict[str, Any]) -> str:
    from webhook_app.usecases.route_admin import describe_state

    counts, recent = item["counts"], item["last_24h"]
    latency = f"p50 {recent['p50_ms']} ms, p99 {recent['p99_ms']} ms" if recent["attempts"] else "no attempts"
    rate = f", at most {item['rate_limit']}" if item["rate_limit"] else ""
    problem = f"; CANNOT DELIVER: {item['problem']} (its deliveries wait)" if item["problem"] else ""
    return (
        f"{item['name']} ({item['handler']}{rate}, {item['source']} v{item['version']}): "
        f"{describe_state(item)}; "
        f"{counts['pending']} pending, {counts['failed']} to retry, {counts['dead']} dead; "
        f"last 24 h: {recent['succeeded']}/{recent['attempts']} succeeded, {latency}{problem}"
    )


@routes.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def routes_list(as_json: bool) -> None:
    """Each route: state, waiting and dead deliveries, the last 24 hours' attempts."""
    echo_items(_items(), as_json, _line, "no routes")


@routes.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="As one JSON object.")
def routes_show(name: str, as_json: bool) -> None:
    """Route NAME's whole configuration (secrets masked), where it came from, and its health."""
    found = _items(only=name)
    if not found:
        raise click.ClickException(f"no route named {name!r}")
    (item,) = found
    if as_json:
        click.echo(json.dumps(item, default=json_default))
        return
    click.echo(_line(item))
    for key in (
        "events",
        "providers",
        "where",
        "retry",
        "rate_limit",
        "pause_after_failures",
        "probe_seconds",
        "options",
    ):
        click.echo(f"  {key}: {json.dumps(item[key], ensure_ascii=False)}")
    click.echo(f"  changed {json_default(item['updated_at'])} by {item['updated_by']}")


@routes.command("pause")
@click.argument("name")
def routes_pause(name: str) -> None:
    """Pause route NAME: its deliveries wait, spending no attempts, until it is resumed."""
    _set_paused(name, paused=True)


@routes.command("resume")
@click.argument("name")
def routes_resume(name: str) -> None:
    """Resume route NAME: its waiting deliveries go out (within its rate limit)."""
    _set_paused(name, paused=False)


def _set_paused(name: str, *, paused: bool) -> None:
    from webhook_app.usecases.route_admin import describe_state, set_paused
    from webhook_app.usecases.route_book import open_route_book

    settings = command_settings()
    store = open_store(settings)
    book = open_route_book(store, settings)
    item, event = set_paused(store, book, book.load(), name, paused, by=cli_actor(), now=datetime.now(UTC))
    done = "paused" if paused else "resumed"
    click.echo(
        f"{name}: {describe_state(item)}" + (f" ({event.type} {event.id})" if event else f", already {done}")
    )


@routes.command("reload")
def routes_reload() -> None:
    """Nothing to do any more: every process reads the routes from the database and sees a
    change within seconds. To take a config file's routes in, use `routes apply FILE --yes`."""
    click.echo(
        "nothing to reload: every process reads the routes from the database and sees a change within "
        "seconds; after editing the config file, run: webhook-app routes apply FILE --yes"
    )


@routes.command("check")
@click.option("--send-test", is_flag=True, help="Push a test event through each route's handler now.")
@click.option(
    "--route", "only", help="With --send-test: only this route (partners' targets get nothing unasked)."
)
def routes_check(send_test: bool, only: str | None) -> None:
    """Check the routes in use (handlers, options, secrets this shell can open) and optionally
    test each one for real. (To check a config file before it is used: `routes apply FILE`.)

    A test event carries the CloudEvents attribute `test: true`, says TEST in what people
    read, and is kept in the event log like any other (with no delivery: this command
    makes the one call itself and prints how it went).
    """
    from webhook_app.config.plugins import build_handlers
    from webhook_app.usecases.route_book import open_route_book
    from webhook_app.usecases.route_test import send_test_event

    settings = command_settings(sends=True)
    store = open_store(settings)
    in_use = open_route_book(store, settings).load()
    problems = [f"route '{name}': {why}" for name, why in in_use.broken.items()] + [
        f"route '{route.name}': events pattern '{pattern}' matches no event type"
        f" (known: {', '.join(known_event_types())})"
        for route in in_use.usable
        for pattern in route.patterns_matching_nothing(known_event_types())
    ]
    if problems:
        raise click.ClickException("; ".join(problems))
    click.echo(f"{len(in_use.usable)} route(s) in the database: OK")
    if only is not None and in_use.find(only) is None:
        raise click.BadParameter(f"no route named '{only}'", param_hint="--route")
    handlers = build_handlers(in_use.usable, "the database", settings.public_url)
    failures = 0
    for route in in_use.usable:
        providers = ",".join(route.providers) if route.providers else "any provider"
        click.echo(
            f"- {route.name}: {route.handler} ← {', '.join(route.events)} ({providers}), "
            f"{route.retry.max_attempts} attempts"
        )
        if not send_test or (only is not None and route.name != only):
            continue
        sent = send_test_event(store, route, handlers[route.name])
        click.echo(f"    {sent.describe()}")
        failures += sent.error is not None
    for handler in handlers.values():
        handler.close()
    store.dispose()
    if failures:
        sys.exit(1)
