"""`routes list|pause|resume|check|reload`: the routes as people see and steer them."""

from __future__ import annotations

import json
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from webhook_app.cli.common import (
    command_settings,
    echo_items,
    known_event_types,
    open_store,
    serve_pidfile,
    validate_routes,
)

if TYPE_CHECKING:
    from webhook_app.model.routes import Route
    from webhook_app.plugins.handler import Handler
    from webhook_app.store import Store


@click.group()
def routes() -> None:
    """Routes from the config file."""


@routes.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def routes_list(as_json: bool) -> None:
    """Each configured route: state, waiting and dead deliveries, the last 24 hours' attempts."""
    from webhook_app.cli.common import command_settings, open_store
    from webhook_app.usecases.route_admin import describe_state, route_items

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
    from webhook_app.cli.common import command_settings, open_store
    from webhook_app.usecases.route_admin import UnknownRoute, describe_state, set_paused

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


@routes.command("reload")
def routes_reload() -> None:
    """Make a running `serve` (in this data directory) read its routes again, after checking them.

    Elsewhere send SIGHUP yourself: to `webhook-app worker` processes and to gunicorn's master.
    """

    settings = command_settings(sends=True)
    validate_routes(settings)
    pidfile = serve_pidfile(settings)
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError):
        raise click.ClickException(
            f"no running 'webhook-app serve' found through {pidfile.absolute()}; run this in its data "
            "directory, or send SIGHUP to the processes that should reload"
        ) from None
    click.echo(f"asked serve (pid {pid}) to reload {len(settings.routes)} route(s); its log says when done")


@routes.command("check")
@click.option("--send-test", is_flag=True, help="Push a test event through each route's handler now.")
@click.option(
    "--route", "only", help="With --send-test: only this route (partners' targets get nothing unasked)."
)
def routes_check(send_test: bool, only: str | None) -> None:
    """Validate the routes (handlers, options) and optionally test each one for real.

    A test event carries the CloudEvents attribute `test: true`, says TEST in what people
    read, and is kept in the event log like any other (with no delivery: this command
    makes the one call itself and prints how it went).
    """
    from webhook_app.config.plugins import build_handlers

    settings = command_settings(sends=True)
    handlers = build_handlers(settings.routes, settings.config_path or "default routes", settings.public_url)
    never = [
        f"route '{route.name}': events pattern '{pattern}' matches no event type"
        for route in settings.routes
        for pattern in route.patterns_matching_nothing(known_event_types())
    ]
    if never:
        for handler in handlers.values():
            handler.close()
        raise click.ClickException("; ".join(never) + f" (known: {', '.join(known_event_types())})")
    click.echo(
        f"{len(settings.routes)} route(s) in {settings.config_path or 'the default configuration'}: OK"
    )
    if only is not None and only not in {route.name for route in settings.routes}:
        raise click.BadParameter(f"no route named '{only}'", param_hint="--route")
    store = open_store(settings) if send_test else None
    failures = 0
    for route in settings.routes:
        providers = ",".join(route.providers) if route.providers else "any provider"
        click.echo(
            f"- {route.name}: {route.handler} ← {', '.join(route.events)} ({providers}), "
            f"{route.retry.max_attempts} attempts"
        )
        if store is None or (only is not None and route.name != only):
            continue
        failures += not _send_test(store, route, handlers[route.name])
    for handler in handlers.values():
        handler.close()
    if store is not None:
        store.dispose()
    if failures:
        sys.exit(1)


def _send_test(store: Store, route: Route, handler: Handler) -> bool:
    """Record a test event of the first type the route takes and hand it to the route's handler;
    whether it was delivered (a route that takes no known type is skipped, not failed)."""
    from webhook_app.config.plugins import callback_providers, provider_classes
    from webhook_app.model.events import OPS_PROVIDER
    from webhook_app.usecases.samples import TEST_PREFERENCE, sample_event

    installed = provider_classes()
    provider = (route.providers or [cls.name for cls in callback_providers()] or list(installed))[0]
    sendable = (t for t in TEST_PREFERENCE if route.matches(str(t), OPS_PROVIDER if t.is_ops else provider))
    event_type = next(sendable, None)
    if event_type is None:
        click.echo("    test: skipped, the route matches no known event type")
        return True
    event = _record_test_event(store, sample_event(event_type, installed.get(provider, provider)))
    try:
        handler.handle(event)
    except Exception as exc:  # report every outcome, whatever the handler raised
        click.echo(f"    test {event_type} {event.id}: FAILED ({type(exc).__name__}: {exc})")
        return False
    click.echo(f"    test {event_type} {event.id}: delivered")
    return True


def _record_test_event(store: Store, event: Any) -> Any:
    """Keep a test event in the log like any other (its receipt: the event as sent), with no delivery."""
    from dataclasses import replace

    from webhook_app.store import NewReceipt
    from webhook_app.usecases.ingest import record_events

    body = json.dumps(event.to_cloudevent()).encode()
    receipt = NewReceipt(provider=event.data.provider, received_at=event.time, body=body, headers={})
    event = replace(event, receipt_id=receipt.id)
    record_events(store, (), receipt, [event], dedupe_key=None, dedupe_window=timedelta(0))
    return event
