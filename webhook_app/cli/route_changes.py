"""`routes add|edit|remove|apply|export`: changing the routes in the database from a shell.

Each command changes what every running process uses within seconds; none reads this
shell's `WEBHOOK_APP_CONFIG` for routes (`routes apply FILE` names its file).
"""

from __future__ import annotations

import json
import sys
import tomllib
from datetime import UTC, datetime
from typing import Any

import click

from webhook_app.cli.common import cli_actor, command_settings, confirm, open_store

ROUTE_OPTIONS = [
    click.option("--handler", help="log, slack, email, forward, or a plugin's name or module:Class."),
    click.option("--events", "events", multiple=True, help="An event type pattern (repeat for more)."),
    click.option("--provider", "providers", multiple=True, help="Only this provider's events (repeat)."),
    click.option(
        "--option", "options", multiple=True, metavar="KEY=VALUE", help="A handler option (repeat)."
    ),
    click.option("--rate-limit", help="At most N/s, N/m or N/h."),
    click.option(
        "--json", "document", type=click.File("r"), help="The route's fields as a JSON object ('-': stdin)."
    ),
]


def route_fields(fn: Any) -> Any:
    for decorate in reversed(ROUTE_OPTIONS):
        fn = decorate(fn)
    return fn


def _fields(given: dict[str, Any]) -> dict[str, Any]:
    """The route's fields from `--json` and the flags (a flag wins)."""
    document = json.load(given["document"]) if given["document"] else {}
    if not isinstance(document, dict):
        raise click.BadParameter("give a JSON object", param_hint="--json")
    for key in ("handler", "rate_limit"):
        if given[key] is not None:
            document[key] = given[key]
    for key in ("events", "providers"):
        if given[key]:
            document[key] = list(given[key])
    if given["options"]:
        document["options"] = {**document.get("options", {}), **dict(_option(o) for o in given["options"])}
    return document


def _option(text: str) -> tuple[str, Any]:
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise click.BadParameter(f"{text!r} is not KEY=VALUE", param_hint="--option")
    try:
        return key, json.loads(value)  # numbers, booleans, lists
    except json.JSONDecodeError:
        return key, value


def _book() -> Any:
    from webhook_app.usecases.route_book import open_route_book

    settings = command_settings()
    return open_route_book(open_store(settings), settings)


@click.command("add")
@click.argument("name")
@route_fields
def routes_add(name: str, **given: Any) -> None:
    """Make route NAME in the database (every process uses it within seconds)."""
    stored = _book().create({**_fields(given), "name": name}, by=cli_actor(), now=datetime.now(UTC))
    click.echo(f"{stored.name}: added (version {stored.version})")


@click.command("edit")
@click.argument("name")
@route_fields
def routes_edit(name: str, **given: Any) -> None:
    """Change route NAME: the fields given replace its own, options are merged key by key."""
    book = _book()
    current = book.load().find(name)
    version = current.version if current is not None else 0
    stored = book.update(name, _fields(given), version=version, by=cli_actor(), now=datetime.now(UTC))
    click.echo(f"{stored.name}: changed (version {stored.version})")


@click.command("remove")
@click.argument("name")
@click.option("--discard", is_flag=True, help="End its waiting deliveries as dead (one ops event for all).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def routes_remove(name: str, discard: bool, yes: bool) -> None:
    """Remove route NAME; with deliveries waiting, only with --discard."""
    book = _book()
    confirm(f"Remove route {name}{' and discard its waiting deliveries' if discard else ''}?", yes)
    routes = book.load().routes
    discarded = book.delete(name, discard=discard, by=cli_actor(), now=datetime.now(UTC), routes=routes)
    click.echo(f"{name}: removed" + (f"; {discarded} waiting deliveries discarded" if discarded else ""))


@click.command("apply")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--prune", is_flag=True, help="Also remove the file's routes that are no longer in it.")
@click.option("--yes", is_flag=True, help="Make the changes (without it, only print them).")
def routes_apply(path: str, prune: bool, yes: bool) -> None:
    """Make the file's routes in the database what FILE says; prints the difference
    (`+ name`, `~ name: fields`, `- name`) and changes nothing without --yes."""
    from webhook_app.errors import ConfigError
    from webhook_app.usecases.route_apply import apply_file

    try:
        with open(path, "rb") as handle:
            tables = tomllib.load(handle).get("routes", [])
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    diff = apply_file(
        _book(), tables, label=path, prune=prune, write=yes, by=f"file:{path}", now=datetime.now(UTC)
    )
    for line in diff.lines() or ["no difference"]:
        click.echo(line)
    if diff and not yes:
        click.echo("nothing changed: run again with --yes to make these changes", err=True)


@click.command("export")
def routes_export() -> None:
    """Every route as TOML `[[routes]]`, each secret as a `${VAR}` to set where it is used."""
    from webhook_app.usecases.route_export import export_toml

    book = _book()
    sys.stdout.write(export_toml(book.load().stored))
