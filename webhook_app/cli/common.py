"""What every command shares: settings, the store (or one line on what is wrong with the
database), asking before acting, times given on the command line, JSON of what is printed."""

from __future__ import annotations

import getpass
import json
import os
import socket
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from webhook_app.config.settings import Settings
    from webhook_app.store import Store
    from webhook_app.usecases.route_book import RouteSet


def known_event_types() -> tuple[str, ...]:
    from webhook_app.model.events import EventType

    return tuple(str(t) for t in EventType)


def cli_actor() -> str:
    """Who acts from a shell on the server, as the audit log keeps it: `cli:<user>@<host>`."""
    return f"cli:{getpass.getuser()}@{socket.gethostname()}"


def command_settings(*, sends: bool = False) -> Settings:
    """Settings; only commands that deliver (`sends`) need every `${SECRET}` of the routes set."""
    from webhook_app.config.settings import load_settings
    from webhook_app.model.recordings import set_low_scores
    from webhook_app.telemetry.logs import configure_logging

    settings = load_settings(route_secrets=sends)
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

    from webhook_app.config.settings import redact_url
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


def routes_in_use(settings: Settings, store: Store) -> RouteSet:
    """The routes the service uses: the database's (never this shell's config file)."""
    from webhook_app.usecases.route_book import open_route_book

    return open_route_book(store, settings).load()


def validate_routes(settings: Settings) -> None:
    from webhook_app.config.plugins import build_handlers

    for handler in build_handlers(settings.routes, settings.config_path or "default routes").values():
        handler.close()


def confirm(question: str, yes: bool) -> None:
    """Ask on a terminal; refuse when no one can answer (cron, a pipe) unless `--yes` was given."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise click.ClickException(f"{question} Nobody can answer here: add --yes to go ahead.")
    click.confirm(question, abort=True)


def moment(text: str, now: datetime, option: str = "--since") -> datetime:
    from webhook_app.config.settings import parse_duration

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


def json_default(value: Any) -> Any:
    from webhook_app.model.clock import isoformat

    if isinstance(value, datetime):
        return isoformat(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")


Line = Callable[[dict[str, Any]], str]


def echo_items(items: Sequence[dict[str, Any]], as_json: bool, line: Line, none: str) -> None:

    for item in items:
        click.echo(json.dumps(item, default=json_default) if as_json else line(item))
    if not items and not as_json:
        click.echo(none)


def time_window(since: str | None, until: str | None) -> dict[str, datetime | None]:
    """`--since` and `--until` (a duration ago, or an ISO 8601 time) as moments."""
    from webhook_app.cli.common import moment

    now = datetime.now(UTC)
    return {
        "since": moment(since, now, "--since") if since else None,
        "until": moment(until, now, "--until") if until else None,
    }
