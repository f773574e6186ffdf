"""`keys create|list|revoke`: named API keys with a role, for each person or machine."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from webhook_app.cli.common import cli_actor, command_settings, echo_items, open_store
from webhook_app.model.states import Role, values

if TYPE_CHECKING:
    from webhook_app.usecases.keys import KeyRing


@click.group()
def keys() -> None:
    """Named API keys: viewer (reads), operator (also pauses, replays, retries), admin (also routes, keys)."""


def _keyring() -> KeyRing:
    from webhook_app.usecases.keys import KeyRing

    settings = command_settings()
    return KeyRing(open_store(settings), settings.admin_tokens)


@keys.command("create")
@click.option("--name", required=True, help="Who or what holds it, e.g. alice or ci-deploy.")
@click.option("--role", required=True, type=click.Choice(values(Role)), help="The least it needs.")
def keys_create(name: str, role: str) -> None:
    """Make a key; it is printed once, alone on the last line, and kept only as a hash."""
    stored, key = _keyring().create(name, role, by=cli_actor(), now=datetime.now(UTC))
    click.echo(f"key {stored.name} ({stored.role}) made; it is shown this once, keep it now:", err=True)
    click.echo(key)


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def keys_list(as_json: bool) -> None:
    """Every key: name, role, made, last used, revoked (never the key itself)."""
    from webhook_app.model.clock import isoformat

    def line(item: dict[str, object]) -> str:
        def when(value: object) -> str:
            return isoformat(value) if isinstance(value, datetime) else "-"

        state = f"revoked {when(item['revoked_at'])}" if item["revoked_at"] else "live"
        return (
            f"{item['name']:<24} {item['role']:<9} {item['source']:<12} made {when(item['created_at'])}"
            f"  last used {when(item['last_used_at'])}  {state}"
        )

    echo_items(_keyring().listed(), as_json, line, "no keys")


@keys.command("revoke")
@click.argument("name")
def keys_revoke(name: str) -> None:
    """Revoke key NAME: every process refuses it within 2 s, and its page sessions end."""
    revoked = _keyring().revoke(name, by=cli_actor(), now=datetime.now(UTC))
    click.echo(f"key {revoked.name} ({revoked.role}) revoked")
