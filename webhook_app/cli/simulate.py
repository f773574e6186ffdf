"""`simulate PROVIDER SAMPLE`: a realistic callback sent to a running instance."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from webhook_app.cli.common import command_settings


@click.command()
@click.argument("provider")
@click.argument("sample")
@click.option(
    "--url", default="http://127.0.0.1:8000", show_default=True, help="Base URL of the running service."
)
@click.option("--token", help="Callback token (default: the first configured or stored one).")
@click.option("--voice-id", help="Voice id to use (default: a new UUID).")
def simulate(provider: str, sample: str, url: str, token: str | None, voice_id: str | None) -> None:
    """POST a callback of PROVIDER, shaped like its documented SAMPLE (an unknown one lists the choices)."""
    import httpx

    from webhook_app.config.plugins import callback_providers

    offered = {cls.name: cls for cls in callback_providers() if cls.samples}
    if provider not in offered:
        raise click.BadParameter(f"choose from {', '.join(offered) or 'none'}", param_hint="PROVIDER")
    cls = offered[provider]
    if sample not in cls.samples:
        raise click.BadParameter(f"choose from {', '.join(cls.samples)}", param_hint="SAMPLE")
    settings = command_settings()
    token = token or next(iter(settings.callback_tokens(provider)), None)
    if not token:
        raise click.ClickException(
            f"No callback token: pass --token or set WEBHOOK_APP_{provider.upper().replace('-', '_')}_TOKENS."
        )
    payload = cls.sample_callback(sample, voice_id)
    try:
        response = httpx.post(f"{url.rstrip('/')}/hooks/{provider}/{token}", json=payload, timeout=10)
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
