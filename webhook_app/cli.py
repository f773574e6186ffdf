"""The `webhook-app` command line."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from webhook_app.errors import ConfigError
from webhook_app.states import DeliveryStatus

if TYPE_CHECKING:
    from webhook_app.config import Settings
    from webhook_app.store import Store

# Everything else is imported by the command that needs it: `webhook-app --help` should
# cost about what importing click does, and `events list` about what a database read does.

SIMULATED_STATUSES = ("finished", "dataset_issue", "consent_validation_failed")
"""What `simulate resemble` offers: Resemble's documented callback statuses (samples.py builds them)."""


def known_event_types() -> tuple[str, ...]:
    from webhook_app.events import EventType

    return tuple(str(t) for t in EventType)


def command_settings(*, sends: bool = False) -> Settings:
    """Settings; only commands that deliver (`sends`) need every `${SECRET}` of the routes set."""
    from webhook_app.config import load_settings
    from webhook_app.logs import configure_logging
    from webhook_app.recordings import set_low_scores

    try:
        settings = load_settings(route_secrets=sends)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    configure_logging(settings.log_format, settings.log_level, settings.secrets())
    set_low_scores(settings.low_scores)
    return settings


def open_store(settings: Settings, *, create: bool = False) -> Store:
    """The store, or one line saying what is wrong with the database and what to do.

    Without `create` (every command but `serve` and `db upgrade`) nothing is made: in a
    folder without a database the command says where it looked, instead of leaving an
    empty one there.
    """
    import sqlalchemy as sa
    from sqlalchemy.exc import SQLAlchemyError

    from webhook_app.config import redact_url
    from webhook_app.store import Store, migrate

    url = settings.database_url
    shown = redact_url(url)
    path = sa.engine.make_url(url).database if url.startswith("sqlite") else None
    if path and path != ":memory:" and not path.startswith("file:"):
        database = Path(path).absolute()
        if not database.parent.is_dir():
            raise click.ClickException(
                f"the folder {database.parent} of the SQLite database does not exist; create it, "
                "or point WEBHOOK_APP_DATABASE_URL at another file"
            )
        if not create and not database.exists():
            raise click.ClickException(
                f"no database at {database}; run this in the folder where 'webhook-app serve' runs, "
                "or set WEBHOOK_APP_DATABASE_URL to your database, e.g. sqlite:////srv/webhook-app/webhook_app.db"
            )
        if not os.access(database.parent, os.W_OK) or (
            database.exists() and not os.access(database, os.W_OK)
        ):
            raise click.ClickException(
                f"{database} (or its folder) is not writable by this user; SQLite needs both, for its WAL"
            )
    store = Store.from_settings(settings)
    try:
        store.ping()
        current = create or migrate.is_current(store.engine)
    except SQLAlchemyError as exc:
        store.dispose()
        raise click.ClickException(f"cannot use the database {shown}: {database_problem(exc)}") from None
    if not current:
        store.dispose()
        raise click.ClickException(
            f"the database {shown} is not at this version's schema; run 'webhook-app db upgrade' first"
        )
    return store


def database_problem(exc: Exception) -> str:
    """The driver's own first line (`database "x" does not exist`, `Connection refused`)."""
    original = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(original).splitlines() if line.strip()]
    return lines[0] if lines else type(original).__name__


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


def _share_metrics_between_processes() -> None:
    """Give this process and its children one Prometheus directory (before prometheus is imported).

    gunicorn forks its workers, and `serve` starts a worker beside them: with a shared
    directory, `/metrics` on any of them sums the counts of all.
    """
    import tempfile

    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="webhook-app-metrics-")


def _validate_routes(settings: Settings) -> None:
    from webhook_app.registry import build_handlers

    try:
        for handler in build_handlers(settings.routes, settings.config_path or "default routes").values():
            handler.close()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="webhook-app")
def cli() -> None:
    """Receive voice-provider callbacks, keep them as events, and deliver them to handlers.

    Configuration comes from WEBHOOK_APP_* environment variables and the TOML file named by
    WEBHOOK_APP_CONFIG; see docs/configuration.md.
    """


@cli.command()
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
    from webhook_app.config import ensure_tokens, redact_url
    from webhook_app.store import migrate

    _share_metrics_between_processes()
    from webhook_app.server import Supervisor, child_command

    settings = command_settings(sends=True)
    _refuse_busy_port(host, port)
    for route in settings.routes:
        for pattern in route.patterns_matching_nothing(known_event_types()):
            click.echo(
                f"warning: route '{route.name}': events pattern '{pattern}' matches no event type"
                " (check it with 'webhook-app routes check')",
                err=True,
            )
    settings, made = ensure_tokens(settings)
    _validate_routes(settings)
    store = open_store(settings, create=True)
    migrate.upgrade(store.engine)
    store.dispose()
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 (only shown)
    base = f"http://{shown_host}:{port}"
    click.echo(f"webhook-app on {base}  (database {redact_url(settings.database_url)})")
    callback_base = settings.public_url or base
    if made:
        click.echo(f"Made new tokens (kept in {settings.data_dir}/webhook_app.tokens.json):")
        click.echo(f"  Resemble callback_uri: {callback_base}/hooks/resemble/{settings.resemble_tokens[0]}")
        click.echo(f"  Admin token:           {settings.admin_tokens[0]}")
    else:
        masked = settings.resemble_tokens[0][:4] + "…"
        click.echo(
            f"Resemble callback_uri: {callback_base}/hooks/resemble/{masked}"
            "  ('webhook-app tokens show' prints it whole)"
        )
    if not settings.public_url:
        click.echo(
            "Set WEBHOOK_APP_PUBLIC_URL to the address Resemble reaches (e.g. https://hooks.example.com)."
        )
    click.echo("Try: webhook-app simulate resemble dataset_issue   (Ctrl-C stops)")
    sys.stdout.flush()
    pidfile = _serve_pidfile(settings)
    pidfile.write_text(f"{os.getpid()}\n")
    try:
        code = Supervisor(
            {
                "web": child_command("web", "--host", host, "--port", str(port), "--workers", str(workers)),
                "worker": child_command("worker"),
            }
        ).run()
    finally:
        pidfile.unlink(missing_ok=True)
    sys.exit(code)


def _serve_pidfile(settings: Settings) -> Path:
    """Where `serve` says which process it is, for `routes reload`."""
    return Path(settings.data_dir) / "webhook_app.serve.pid"


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
def web(host: str, port: int, workers: int) -> None:
    """Run only the web server (gunicorn), as the Procfile's `web` line does."""
    _share_metrics_between_processes()
    from webhook_app import create_app
    from webhook_app.server import run_web

    settings = command_settings(sends=True)
    _refuse_busy_port(host, port)
    _validate_routes(settings)
    run_web(create_app, settings, host, port, workers)


@cli.command()
@click.option("--metrics-port", type=int, help="Serve this worker's Prometheus metrics on this port.")
@click.option("--metrics-host", default="127.0.0.1", show_default=True)
def worker(metrics_port: int | None, metrics_host: str) -> None:
    """Run only the dispatcher and Azure poller; start as many as you need on PostgreSQL."""
    from webhook_app.server import run_worker

    settings = command_settings(sends=True)
    _validate_routes(settings)
    open_store(settings).dispose()  # says what is wrong with the database, or that its schema is old
    run_worker(settings, metrics_port=metrics_port, metrics_host=metrics_host)


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (the Procfile's `release` step)."""
    from webhook_app.config import redact_url
    from webhook_app.store import migrate

    settings = command_settings()
    store = open_store(settings, create=True)
    migrate.upgrade(store.engine)
    click.echo(f"schema at {migrate.current_revision(store.engine)} ({redact_url(settings.database_url)})")


@db.command("downgrade")
@click.argument("revision")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def db_downgrade(revision: str, yes: bool) -> None:
    """Take the schema back to REVISION, for a rollback: run it with the release you leave, giving the
    revision `db upgrade` printed for the release you go back to. What later revisions added goes."""
    from webhook_app.store import migrate

    settings = command_settings()
    store = open_store(settings, create=True)
    current = migrate.current_revision(store.engine)
    _confirm(f"Take the schema from {current} back to {revision}?", yes)
    try:
        migrate.downgrade(store.engine, revision)
    except Exception as exc:  # alembic's word for a revision it does not know
        raise click.ClickException(f"cannot go back to {revision!r}: {exc}") from None
    click.echo(f"schema at {migrate.current_revision(store.engine)}")


@cli.group()
def events() -> None:
    """Read the event log."""


@events.command("list")
@click.option("--type", "type_", help="Event type, e.g. voice.dataset.issue.")
@click.option("--provider", help="A provider's name, e.g. resemble or azure.")
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
    from webhook_app.store import EventFilters
    from webhook_app.text import printable

    if type_ is not None and type_ not in known_event_types():
        raise click.BadParameter(
            f"'{type_}' is no event type; known: {', '.join(known_event_types())}", param_hint="--type"
        )
    store = open_store(command_settings())
    now = datetime.now(UTC)
    moments = {
        name: _moment(text, now, f"--{name}").isoformat()
        for name, text in (("since", since), ("until", until))
        if text
    }
    given = {"type": type_, "provider": provider, "voice_id": voice_id, "status": status} | moments
    filters = EventFilters()
    if any(given.values()):  # nothing to check otherwise (and marshmallow's import is a third of a run)
        from webhook_app.filters import parse_event_filters

        filters = parse_event_filters(given)
    items, _ = store.list_events(filters, limit=limit)
    counts = store.delivery_counts([item["id"] for item in items])
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
    from webhook_app.show import event_lines

    store = open_store(command_settings())
    document = store.get_event(event_id)
    if document is None:
        raise click.ClickException(f"No event with id {event_id}.")
    deliveries = store.deliveries_of(event_id)
    if as_json:
        click.echo(json.dumps({**document, "deliveries": deliveries}, indent=2, default=json_default))
        return
    click.echo("\n".join(event_lines(document, deliveries)))


@events.command("replay")
@click.argument("event_id")
@click.option("--route", help="Only this route (default: every configured route the event matches).")
def events_replay(event_id: str, route: str | None) -> None:
    """Deliver EVENT_ID again: new deliveries, the old history stays."""
    from webhook_app.replay import AlreadyReplayed, ReplayError, replay_event

    settings = command_settings()
    try:
        created = replay_event(
            open_store(settings), settings.routes, event_id, route=route, now=datetime.now(UTC)
        )
    except (ReplayError, AlreadyReplayed) as exc:
        raise click.ClickException(str(exc)) from None
    for delivery in created:
        click.echo(f"{delivery['id']}  {delivery['route']}  pending")


@cli.group()
def receipts() -> None:
    """Raw requests as they arrived."""


@receipts.command("show")
@click.argument("receipt_id")
@click.option(
    "--json", "as_json", is_flag=True, help="The whole receipt as JSON (the body as text or base64)."
)
def receipts_show(receipt_id: str, as_json: bool) -> None:
    """One request as it arrived: accepted or why not, its events, its body."""
    import base64

    from webhook_app.show import receipt_lines

    receipt = open_store(command_settings()).get_receipt(receipt_id)
    if receipt is None:
        raise click.ClickException(f"No receipt with id {receipt_id}.")
    if not as_json:
        click.echo("\n".join(receipt_lines(receipt)))
        return
    raw: bytes = receipt.pop("body")
    try:
        receipt["body"], receipt["body_encoding"] = raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        receipt["body"], receipt["body_encoding"] = base64.b64encode(raw).decode(), "base64"
    click.echo(json.dumps(receipt, indent=2, default=json_default))


@receipts.command("reprocess")
@click.argument("receipt_ids", nargs=-1, required=True)
def receipts_reprocess(receipt_ids: tuple[str, ...]) -> None:
    """Validate rejected receipts again and record their events if they pass now."""
    from webhook_app.registry import load_providers
    from webhook_app.reprocess import AlreadyReprocessed, ReprocessError, reprocess_receipt

    settings = command_settings()
    store = open_store(settings)
    providers = load_providers(settings)
    failures = 0
    for receipt_id in receipt_ids:
        try:
            result = reprocess_receipt(
                store,
                settings.routes,
                providers,
                receipt_id,
                dedupe_window=timedelta(seconds=settings.dedupe_window),
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


@cli.group()
def deliveries() -> None:
    """Deliveries in bulk."""


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
    settings = command_settings()
    store = open_store(settings)
    now = datetime.now(UTC)
    planned = store.deliveries_to_retry(
        status=status, route=route, since=_moment(since, now) if since else None
    )
    unknown = sorted({p.route for p in planned} - {r.name for r in settings.routes})
    if unknown:  # their replays would die at once: refused, as the page refuses a route it does not know
        raise click.ClickException(
            f"route(s) {', '.join(unknown)} no longer configured, so their replays would be dead at once; "
            "add the route back, or retry one that is configured with --route NAME"
        )
    if not planned:
        click.echo(f"no {status} deliveries to retry")
        return
    _confirm(f"Retry {len(planned)} {status} deliveries?", yes)
    batch, queued = 200, 0
    with click.progressbar(length=len(planned), label="retrying", file=sys.stderr) as bar:
        for start in range(0, len(planned), batch):
            chunk = planned[start : start + batch]
            queued += sum(1 for delivery_id in store.add_deliveries(chunk, now=now) if delivery_id)
            bar.update(len(chunk))
    skipped = len(planned) - queued
    click.echo(
        f"{queued} deliveries queued again"
        + (f" ({skipped} replayed meanwhile by another)" if skipped else "")
    )


def _record_test_event(store: Store, event: Any) -> Any:
    """Keep a test event in the log like any other (its receipt: the event as sent), with no delivery."""
    from dataclasses import replace

    from webhook_app.ingest import record_events
    from webhook_app.store import NewReceipt

    body = json.dumps(event.to_cloudevent()).encode()
    receipt = NewReceipt(provider=event.data.provider, received_at=event.time, body=body, headers={})
    event = replace(event, receipt_id=receipt.id)
    record_events(store, (), receipt, [event], dedupe_key=None, dedupe_window=timedelta(0))
    return event


def _confirm(question: str, yes: bool) -> None:
    """Ask on a terminal; refuse when no one can answer (cron, a pipe) unless `--yes` was given."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise click.ClickException(f"{question} Nobody can answer here: add --yes to go ahead.")
    click.confirm(question, abort=True)


def _moment(text: str, now: datetime, option: str = "--since") -> datetime:
    from webhook_app.config import parse_duration

    try:
        return now - timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    except OverflowError:
        raise click.BadParameter(f"{text!r} reaches back before the year 1", param_hint=option) from None
    try:
        moment = datetime.fromisoformat(text)
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither a duration (24h) nor an ISO 8601 time", param_hint=option
        ) from None
    except OverflowError:
        raise click.BadParameter(
            f"{text!r} falls outside the years 1 to 9999 in UTC", param_hint=option
        ) from None


@cli.group()
def tokens() -> None:
    """The callback URL and admin tokens this installation uses."""


@tokens.command("show")
def tokens_show() -> None:
    """Print the callback URL(s) and admin token(s), from the environment or the tokens file `serve` made."""
    settings = command_settings()
    if not settings.resemble_tokens and not settings.admin_tokens:
        raise click.ClickException(
            f"no tokens in the environment or in {settings.data_dir}/webhook_app.tokens.json; "
            "'webhook-app serve' makes them on its first start (run this where it runs,"
            " or set WEBHOOK_APP_DATA_DIR)"
        )
    base = settings.public_url or "http://127.0.0.1:8000"
    for token in settings.resemble_tokens:
        click.echo(f"Resemble callback_uri: {base}/hooks/resemble/{token}")
    for token in settings.admin_tokens:
        click.echo(f"Admin token:           {token}")
    if not settings.public_url:
        click.echo(
            "(the address is serve's default: set WEBHOOK_APP_PUBLIC_URL to the one Resemble reaches)",
            err=True,
        )


@cli.group()
def routes() -> None:
    """Routes from the config file."""


@routes.command("reload")
def routes_reload() -> None:
    """Make a running `serve` (in this data directory) read its routes again, after checking them.

    Elsewhere send SIGHUP yourself: to `webhook-app worker` processes and to gunicorn's master.
    """
    import signal

    settings = command_settings(sends=True)
    _validate_routes(settings)
    pidfile = _serve_pidfile(settings)
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
    from webhook_app.events import OPS_PROVIDER
    from webhook_app.registry import build_handlers
    from webhook_app.samples import TEST_PREFERENCE, sample_event

    settings = command_settings(sends=True)
    try:
        handlers = build_handlers(
            settings.routes, settings.config_path or "default routes", settings.public_url
        )
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
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
        provider = (route.providers or ("resemble",))[0]
        sendable = (
            t for t in TEST_PREFERENCE if route.matches(str(t), OPS_PROVIDER if t.is_ops else provider)
        )
        event_type = next(sendable, None)
        if event_type is None:
            click.echo("    test: skipped, the route matches no known event type")
            continue
        event = _record_test_event(store, sample_event(event_type, provider))
        try:
            handlers[route.name].handle(event)
        except Exception as exc:  # report every outcome, whatever the handler raised
            failures += 1
            click.echo(f"    test {event_type} {event.id}: FAILED ({type(exc).__name__}: {exc})")
        else:
            click.echo(f"    test {event_type} {event.id}: delivered")
    for handler in handlers.values():
        handler.close()
    if store is not None:
        store.dispose()
    if failures:
        sys.exit(1)


@cli.command()
@click.option("--older-than", required=True, help="Age to keep, e.g. 90d or 12h.")
@click.option(
    "--batch", default=1000, show_default=True, type=click.IntRange(1, 100_000), help="Rows per transaction."
)
@click.option("--dry-run", is_flag=True, help="Only count what would be removed.")
@click.option("--yes", is_flag=True, help="Remove without asking (needed when no one can answer).")
def prune(older_than: str, batch: int, dry_run: bool, yes: bool) -> None:
    """Delete old receipts, events and finished deliveries (never pending ones), in batches."""
    from webhook_app.clock import isoformat
    from webhook_app.config import parse_duration

    try:
        age = parse_duration(older_than)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from None
    before = datetime.now(UTC) - timedelta(seconds=age)
    store = open_store(command_settings())
    counts = store.prune_counts(before=before)
    summary = ", ".join(f"{count} {name}" for name, count in counts.items())
    if not any(counts.values()):  # under cron, "nothing to do" is a success, not a question to refuse
        click.echo(f"nothing older than {isoformat(before)} to remove")
        return
    if dry_run:
        click.echo(f"older than {isoformat(before)}: {summary} would be removed")
        return
    _confirm(f"Remove {summary} (older than {isoformat(before)})?", yes)
    click.echo(f"pruning what is older than {isoformat(before)}", err=True)
    removed = store.prune(
        before=before, batch=batch, progress=lambda kind, n: click.echo(f"  removed {n} {kind}", err=True)
    )
    click.echo(", ".join(f"{count} {name}" for name, count in removed.items()) + " removed")


@cli.group()
def simulate() -> None:
    """Send realistic provider callbacks to a running instance."""


@simulate.command("resemble")
@click.argument("status", type=click.Choice(SIMULATED_STATUSES))
@click.option(
    "--url", default="http://127.0.0.1:8000", show_default=True, help="Base URL of the running service."
)
@click.option("--token", help="Callback token (default: the first configured or stored one).")
@click.option("--voice-id", help="Voice id to use (default: a new UUID).")
def simulate_resemble(status: str, url: str, token: str | None, voice_id: str | None) -> None:
    """POST a Resemble callback with STATUS, shaped like Resemble's documented payloads."""
    import httpx

    from webhook_app.samples import resemble_callback

    settings = command_settings()
    token = token or next(iter(settings.resemble_tokens), None)
    if not token:
        raise click.ClickException("No callback token: pass --token or set WEBHOOK_APP_RESEMBLE_TOKENS.")
    payload = resemble_callback(status, voice_id)
    try:
        response = httpx.post(f"{url.rstrip('/')}/hooks/resemble/{token}", json=payload, timeout=10)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"Could not reach {url}: {exc}. Is 'webhook-app serve' running?") from None
    answer: Any = (
        response.json()
        if response.headers.get("content-type", "").startswith("application/json")
        else response.text
    )
    click.echo(f"{response.status_code} {json.dumps(answer)}")
    click.echo(f"voice id: {payload['id']}")
    event_ids = answer.get("event_ids") if isinstance(answer, dict) else None
    if event_ids:
        click.echo(f"see it: webhook-app events show {event_ids[0]}")
    if response.status_code >= 300:
        sys.exit(1)


def json_default(value: Any) -> Any:
    from webhook_app.clock import isoformat

    if isinstance(value, datetime):
        return isoformat(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")


from webhook_app.azure.cli import azure  # noqa: E402 - registered last: it calls back into this module
from webhook_app.resemble_cli import resemble  # noqa: E402
from webhook_app.status_cli import (  # noqa: E402
    deliveries_list,
    receipts_list,
    routes_list,
    routes_pause,
    routes_resume,
    voices_list,
)

cli.add_command(azure)
cli.add_command(resemble)
for _command in (routes_list, routes_pause, routes_resume):
    routes.add_command(_command)
deliveries.add_command(deliveries_list)
receipts.add_command(receipts_list)


@cli.group()
def voices() -> None:
    """Voices across providers and their latest state."""


voices.add_command(voices_list)


def main() -> None:
    try:
        cli(prog_name="webhook-app")
    except Exception as exc:
        database_errors = sys.modules.get("sqlalchemy.exc")  # imported only by commands that use a database
        if database_errors is None or not isinstance(exc, database_errors.SQLAlchemyError):
            raise
        click.echo(f"Error: the database failed: {database_problem(exc)}", err=True)  # went away mid-command
        sys.exit(1)
