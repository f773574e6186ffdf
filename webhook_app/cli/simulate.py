"""`simulate resemble STATUS`: a realistic callback sent to a running instance."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from webhook_app.cli.common import command_settings

SIMULATED_STATUSES = ("finished", "dataset_issue", "consent_validation_failed")
"""What `simulate resemble` offers: Resemble's documented callback statuses (samples.py builds them)."""


@click.group()
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
