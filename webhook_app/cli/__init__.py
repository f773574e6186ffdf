"""The `webhook-app` command line: one module per command group, loaded when its command runs.

The root names each group by where it lives (`LazyGroup`), so `webhook-app --help` costs about
what importing click does, `events list` about what a database read does, and no module of
a group imports this one back. Providers add their own groups under the entry-point group
`webhook_app.commands` (named without importing them).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

COMMANDS = {
    "serve": "webhook_app.cli.server:serve",
    "web": "webhook_app.cli.server:web",
    "worker": "webhook_app.cli.server:worker",
    "db": "webhook_app.cli.db:db",
    "events": "webhook_app.cli.events:events",
    "receipts": "webhook_app.cli.receipts:receipts",
    "deliveries": "webhook_app.cli.deliveries:deliveries",
    "routes": "webhook_app.cli.routes:routes",
    "voices": "webhook_app.cli.voices:voices",
    "tokens": "webhook_app.cli.tokens:tokens",
    "keys": "webhook_app.cli.keys:keys",
    "audit": "webhook_app.cli.audit:audit",
    "prune": "webhook_app.cli.prune:prune",
    "simulate": "webhook_app.cli.simulate:simulate",
}
"""Each command, by the module and name that define it."""
COMMANDS_ENTRY_POINT_GROUP = "webhook_app.commands"


def provided_commands() -> dict[str, str]:
    """The installed providers' groups (entry points `webhook_app.commands`), read from each
    distribution's `entry_points.txt` on `sys.path`, earlier paths first, as importlib.metadata
    finds them: importing importlib.metadata itself would cost every `webhook-app --help` a
    fifth of its time (benchmarks/RESULTS.md, "CLI start-up")."""
    found: dict[str, str] = {}
    for folder in sys.path:
        try:
            entries = list(os.scandir(folder or "."))
        except OSError:
            continue
        for entry in entries:
            if entry.name.endswith((".dist-info", ".egg-info")):
                for name, value in _entry_points(Path(entry.path, "entry_points.txt")).items():
                    found.setdefault(name, value)
    return found


def _entry_points(path: Path) -> dict[str, str]:
    """`name = module:attribute` lines of the `[webhook_app.commands]` section of one file."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    section, points = "", {}
    for line in (line.strip() for line in lines):
        if line.startswith("["):
            section = line
        elif section == f"[{COMMANDS_ENTRY_POINT_GROUP}]" and "=" in line and not line.startswith(("#", ";")):
            name, _, value = line.partition("=")
            points[name.strip()] = value.strip()
    return points


class LazyGroup(click.Group):
    """A group whose commands are imported when asked for (click's documented lazy loading);
    `provided()` names more of them, for names that are not in `lazy` (which wins)."""

    def __init__(
        self, *args: Any, lazy: dict[str, str], provided: Callable[[], dict[str, str]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy
        self._provided = provided
        self._found: dict[str, str] | None = None

    def provided(self) -> dict[str, str]:
        """The providers' groups, looked for once per process."""
        if self._found is None:
            self._found = self._provided()
        return self._found

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.provided(), *self.lazy})

    def invoke(self, ctx: click.Context) -> Any:
        """Every error the service raises on purpose ends a command the same way: `Error: <what
        it says>`, exit 1 (the command line's one mapping of errors)."""
        from webhook_app.errors import WebhookAppError

        try:
            return super().invoke(ctx)
        except WebhookAppError as exc:
            raise click.ClickException(str(exc)) from None

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        reference = self.lazy.get(cmd_name) or self.provided().get(cmd_name)
        if reference is None:
            return super().get_command(ctx, cmd_name)
        module_name, _, attribute = reference.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{reference} is not a click command")
        return command


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    provided=provided_commands,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="webhook-app")
def cli() -> None:
    """Receive voice-provider callbacks, keep them as events, and deliver them to handlers.

    Configuration comes from WEBHOOK_APP_* environment variables and the TOML file named by
    WEBHOOK_APP_CONFIG; see docs/configuration.md.
    """


def main() -> None:
    try:
        cli(prog_name="webhook-app")
    except Exception as exc:
        database_errors = sys.modules.get("sqlalchemy.exc")  # imported only by commands that use a database
        if database_errors is None or not isinstance(exc, database_errors.SQLAlchemyError):
            raise
        from webhook_app.cli.common import database_problem

        click.echo(f"Error: the database failed: {database_problem(exc)}", err=True)  # went away mid-command
        sys.exit(1)
