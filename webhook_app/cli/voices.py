"""`voices list`: voices across providers and their latest state."""

from __future__ import annotations

from typing import Any

import click

from webhook_app.cli.common import command_settings, echo_items, open_store


@click.group()
def voices() -> None:
    """Voices across providers and their latest state."""


@voices.command("list")
@click.option("--provider")
@click.option("--search", "q", help="Part of a voice id.")
@click.option("--type", "last_type", help="Only voices whose latest event is of this type.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def voices_list(
    provider: str | None, q: str | None, last_type: str | None, limit: int, as_json: bool
) -> None:
    """Voices, most recent activity first, with their latest status (a few seconds behind the log)."""
    from webhook_app.cli.common import json_default
    from webhook_app.model.text import printable

    def line(item: dict[str, Any]) -> str:
        return (
            f"{json_default(item['last_event_at'])}  {item['provider']:<9}  {printable(item['voice_id'])}  "
            f"{printable(item['status'])}  {item['last_event_type']}  {item['events']} event(s)"
        )

    items, _ = open_store(command_settings()).rollups.voice_list(
        provider=provider, q=q, last_type=last_type, limit=limit, cursor=None
    )
    shown = [{k: v for k, v in item.items() if k != "last_seq"} for item in items]  # last_seq: the cursor's
    echo_items(shown, as_json, line, "no voices")
