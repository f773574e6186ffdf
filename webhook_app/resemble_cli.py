"""`webhook-app resemble …`: create a Resemble voice whose callback is this service, start training."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from webhook_app.errors import ConfigError

if TYPE_CHECKING:
    from webhook_app.config import Settings
    from webhook_app.store import Store


@click.group()
def resemble() -> None:
    """Resemble AI: create a voice with its callback wired to this service, start training."""


def _resemble_client(settings: Settings) -> Any:
    from webhook_app.resemble_client import ResembleClient

    try:
        return ResembleClient(
            settings.resemble_api_key, settings.resemble_api_url, settings.resemble_allowed_hosts
        )
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _callback_url(settings: Settings, given: str | None) -> str:
    """Where Resemble will call back: `--callback-url`, or PUBLIC_URL with a configured token."""
    if given:
        url = given
    else:
        if not settings.public_url:
            raise click.ClickException(
                "set WEBHOOK_APP_PUBLIC_URL to the address Resemble reaches (or pass --callback-url): "
                "a callback to 127.0.0.1 never arrives"
            )
        if not settings.resemble_tokens:
            raise click.ClickException(
                "no callback token: run 'webhook-app serve' once in this folder,"
                " or set WEBHOOK_APP_RESEMBLE_TOKENS"
            )
        url = f"{settings.public_url}/hooks/resemble/{settings.resemble_tokens[0]}"
    for warning in _callback_warnings(url):
        click.echo(f"warning: {warning}", err=True)
    return url


def _callback_warnings(url: str) -> list[str]:
    import ipaddress
    import socket
    from urllib.parse import urlsplit

    from webhook_app.outbound import is_global_address

    parts = urlsplit(url)
    warnings = []
    if parts.scheme != "https":
        warnings.append("the callback URL is plain http: its token crosses the internet in clear")
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(parts.hostname or "", None)}
    except OSError:
        addresses = set()
    if any(not is_global_address(ipaddress.ip_address(a.split("%")[0])) for a in addresses):
        warnings.append(f"{parts.hostname} is a private address: Resemble cannot reach it from the internet")
    return warnings


@resemble.command("create-voice")
@click.option("--name", required=True, help="The voice's name.")
@click.option(
    "--consent",
    "consent_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The consent recording (a .wav file), sent base64-encoded.",
)
@click.option(
    "--voice-type", type=click.Choice(["rapid", "professional"]), help="Resemble's default: professional."
)
@click.option("--dataset-url", help="A URL to the dataset to train on.")
@click.option(
    "--callback-url", help="Where Resemble calls back (default: PUBLIC_URL/hooks/resemble/<token>)."
)
@click.option("--build", "start_build", is_flag=True, help="Start training right after creating it.")
def resemble_create_voice(
    name: str,
    consent_file: Path,
    voice_type: str | None,
    dataset_url: str | None,
    callback_url: str | None,
    start_build: bool,
) -> None:
    """Create a voice whose callback_uri is this service, and start its timeline with its first status."""
    from webhook_app.cli import command_settings, open_store
    from webhook_app.resemble_client import ResembleRequestError

    settings = command_settings()
    callback = _callback_url(settings, callback_url)
    store = open_store(settings)
    client = _resemble_client(settings)
    try:
        item = client.create_voice(
            name=name,
            consent=consent_file.read_bytes(),
            callback_uri=callback,
            voice_type=voice_type,
            dataset_url=dataset_url,
        )
        event = _record_creation(store, settings, item)
        click.echo(item["uuid"])
        click.echo(f"created voice {name!r}: status {item.get('status')}; event {event.id}", err=True)
        if start_build:
            click.echo(f"build: {client.build(item['uuid'])}", err=True)
    except ResembleRequestError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        client.close()
        store.dispose()


@resemble.command("build")
@click.argument("uuid")
def resemble_build(uuid: str) -> None:
    """Start training a voice (Resemble's Build voice)."""
    from webhook_app.cli import command_settings
    from webhook_app.resemble_client import ResembleRequestError

    client = _resemble_client(command_settings())
    try:
        click.echo(client.build(uuid))
    except ResembleRequestError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        client.close()


def _record_creation(store: Store, settings: Settings, item: dict[str, Any]) -> Any:
    """`voice.status.changed` with the status Resemble answered: the voice's timeline starts here,
    delivered to the routes like any event; the receipt keeps Resemble's answer."""
    from webhook_app.events import Event, EventData, EventType
    from webhook_app.ingest import record_events
    from webhook_app.providers import resemble as provider
    from webhook_app.store import NewReceipt

    now = datetime.now(UTC)
    body = json.dumps({"created": item}).encode()
    receipt = NewReceipt(
        provider=provider.PROVIDER, received_at=now, body=body, headers={}, content_type="application/json"
    )
    status = str(item.get("status") or "created")
    data = EventData(provider=provider.PROVIDER, voice_id=item["uuid"], status=status, ok=True)
    event = Event(
        type=EventType.STATUS_CHANGED, source=provider.SOURCE, time=now, data=data, receipt_id=receipt.id
    )
    record_events(store, settings.routes, receipt, [event], dedupe_key=None, dedupe_window=timedelta(0))
    return event
