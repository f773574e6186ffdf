"""`serve` (everything in one command), `web` (gunicorn) and `worker` (the jobs)."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from webhook_app.cli.common import (
    command_settings,
    known_event_types,
    open_store,
    validate_routes,
)


def _refuse_busy_port(host: str, port: int) -> None:
    """Fail at once if the address is taken: gunicorn would retry, exit, and `serve` restart it for ever."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise click.ClickException(
            f"cannot listen on {host}:{port} ({reason}); stop what runs there, or choose another --port"
        ) from None


if TYPE_CHECKING:
    from webhook_app.config.settings import Settings
    from webhook_app.plugins.provider import Provider
    from webhook_app.usecases.route_apply import RouteDiff


def _share_metrics_between_processes() -> None:
    """Give this process and its children one Prometheus directory (before prometheus is imported).

    gunicorn forks its workers, and `serve` starts a worker beside them: with a shared
    directory, `/metrics` on any of them sums the counts of all.
    """
    import tempfile

    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="webhook-app-metrics-")


def _show_callback_urls(
    settings: Settings,
    providers: list[type[Provider]],
    base: str,
    made: list[str],
) -> None:
    """Each provider's callback URL: whole when its token was made just now, else masked."""
    if made:
        click.echo(f"Made new tokens (kept in {settings.data_dir}/webhook_app.tokens.json):")
    for provider in providers:
        token = settings.callback_tokens(provider.name)[0]
        if f"{provider.name.replace('-', '_')}_tokens" in made:
            click.echo(f"  {provider.display_name()} callback_uri: {base}/hooks/{provider.name}/{token}")
        else:
            click.echo(
                f"{provider.display_name()} callback_uri: {base}/hooks/{provider.name}/{token[:4]}…"
                "  ('webhook-app tokens show' prints it whole)"
            )
    if "admin_tokens" in made:
        click.echo(f"  Admin token:           {settings.admin_tokens[0]}")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="Web worker processes."
)
def serve(host: str, port: int, workers: int) -> None:
    """Run everything: web server, dispatcher and poller, on the configured database.

    Brings the database schema up to date first, and on a first start makes a callback
    token and an admin token (kept in WEBHOOK_APP_DATA_DIR).
    """
    from webhook_app.config.plugins import callback_providers
    from webhook_app.config.settings import ensure_tokens, redact_url
    from webhook_app.store import migrate

    _share_metrics_between_processes()
    from webhook_app.runtime.server import Supervisor, child_command

    settings = command_settings(sends=True)
    _refuse_busy_port(host, port)
    for route in settings.routes:
        for pattern in route.patterns_matching_nothing(known_event_types()):
            click.echo(
                f"warning: route '{route.name}': events pattern '{pattern}' matches no event type"
                " (check it with 'webhook-app routes check')",
                err=True,
            )
    providers = callback_providers()
    settings, made = ensure_tokens(settings, [provider.name for provider in providers])
    validate_routes(settings)
    store = open_store(settings, create=True)
    migrate.upgrade(store.engine)
    store.dispose()
    for line in _apply_routes(settings).lines():
        click.echo(f"routes from {settings.config_path}: {line}")
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 (only shown)
    base = f"http://{shown_host}:{port}"
    click.echo(f"webhook-app on {base}  (database {redact_url(settings.database_url)})")
    callback_base = settings.public_url or base
    _show_callback_urls(settings, providers, callback_base, made)
    if not settings.public_url:
        click.echo(
            "Set WEBHOOK_APP_PUBLIC_URL to the address providers reach (e.g. https://hooks.example.com)."
        )
    for provider in providers:
        if provider.samples:
            click.echo(f"Try: webhook-app simulate {provider.name} {provider.samples[0]}   (Ctrl-C stops)")
            break
    sys.stdout.flush()
    code = Supervisor(
        {
            "web": child_command("web", "--host", host, "--port", str(port), "--workers", str(workers)),
            "worker": child_command("worker"),
        }
    ).run()
    sys.exit(code)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
def web(host: str, port: int, workers: int) -> None:
    """Run only the web server (gunicorn), as the Procfile's `web` line does."""
    _share_metrics_between_processes()
    from webhook_app import create_app
    from webhook_app.runtime.server import run_web

    settings = command_settings(sends=True)
    _refuse_busy_port(host, port)
    validate_routes(settings)
    _apply_routes_apart(settings)
    run_web(create_app, settings, host, port, workers)


@click.command()
@click.option("--metrics-port", type=int, help="Serve this worker's Prometheus metrics on this port.")
@click.option("--metrics-host", default="127.0.0.1", show_default=True)
def worker(metrics_port: int | None, metrics_host: str) -> None:
    """Run only the jobs (deliveries, providers' polling); start as many as you need on PostgreSQL."""
    from webhook_app.runtime.server import run_worker

    settings = command_settings(sends=True)
    validate_routes(settings)
    _apply_routes(settings)
    run_worker(settings, metrics_port=metrics_port, metrics_host=metrics_host)


def _apply_routes(settings: Settings) -> RouteDiff:
    """The config file's routes into the database before a process starts, so a conflict or a
    database that is not ready stops it with one line (`open_store` says what is wrong)."""
    from webhook_app.usecases.route_apply import apply_configured_routes
    from webhook_app.usecases.route_book import open_route_book

    store = open_store(settings)
    try:
        return apply_configured_routes(open_route_book(store, settings), settings, now=datetime.now(UTC))
    finally:
        store.dispose()


def _apply_routes_apart(settings: Settings) -> None:
    """`_apply_routes` in a process of its own: gunicorn's master must not import the database
    driver, or the evented workers it forks inherit psycopg's blocking waits (one request at a
    time each; benchmarks/RESULTS.md)."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        refused = pool.apply(_refusal_of_apply, (settings,))
    if refused is not None:
        raise click.ClickException(refused)


def _refusal_of_apply(settings: Settings) -> str | None:
    """What stopped the routes being applied, as text (an exception may not cross back whole)."""
    from webhook_app.errors import WebhookAppError

    try:
        _apply_routes(settings)
    except (WebhookAppError, click.ClickException) as exc:
        return exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
    return None
