"""`webhook-app azure …`: create Azure personal voices and consents, track and list operations."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from webhook_app.model.states import OperationKind, OperationState, values

if TYPE_CHECKING:
    from webhook_app.config.settings import Settings


def _own(settings: Settings) -> Any:
    """Azure's settings (imported here: `webhook-app --help` lists this group without them)."""
    from webhook_app.providers.azure.settings import AzureSettings

    return AzureSettings.read(settings)


@click.group()
def azure() -> None:
    """Azure AI Speech personal voice: create, track and list long-running operations."""
    from webhook_app.cli.common import command_settings

    _own(command_settings())  # a wrong setting is named before anything runs


def _track_and_report(settings: Settings, url: str, kind: str, resource_id: str) -> None:
    from webhook_app.cli.common import open_store
    from webhook_app.providers.azure.operations import OperationStore
    from webhook_app.providers.azure.poller import track_operation

    store = open_store(settings)
    operation, created = track_operation(
        OperationStore(store), settings, url=url, kind=kind, resource_id=resource_id, now=datetime.now(UTC)
    )
    verb = "tracking" if created else "already tracked as"
    click.echo(f"{verb} {operation.id}: {kind} {operation.resource_id}, status {operation.status}")
    click.echo(f"  {operation.operation_url}")
    if created:
        interval = _own(settings).poll_interval
        click.echo(f"  first poll in {interval:g}s by 'webhook-app worker' (or serve)")


@azure.command("track")
@click.argument("operation_url")
@click.option("--kind", type=click.Choice(values(OperationKind)), required=True)
@click.option(
    "--resource-id", required=True, help="The personal voice id or consent id the operation creates."
)
def azure_track(operation_url: str, kind: str, resource_id: str) -> None:
    """Track OPERATION_URL (an Operation-Location) and turn its status changes into events."""
    from webhook_app.cli.common import command_settings

    _track_and_report(command_settings(), operation_url, kind, resource_id)


def _azure_client(settings: Settings, endpoint: str | None) -> tuple[Any, str]:
    from webhook_app.providers.azure.client import AzureClient

    own = _own(settings)
    endpoint = endpoint or own.endpoint
    if not endpoint:
        raise click.ClickException(
            "Pass --endpoint https://<region>.api.cognitive.microsoft.com or set WEBHOOK_APP_AZURE_ENDPOINT."
        )
    if not own.speech_key:
        raise click.ClickException("Set WEBHOOK_APP_AZURE_SPEECH_KEY to your Speech resource key.")
    client = AzureClient(own.speech_key, own.allowed_hosts, api_version=own.api_version)
    return client, endpoint


def _create(settings: Settings, endpoint: str | None, kind: str, resource_id: str, **fields: Any) -> None:
    from webhook_app.providers.azure.client import AzureRequestError

    client, endpoint = _azure_client(settings, endpoint)
    try:
        if kind == "personal_voice":
            url = client.create_personal_voice(endpoint, voice_id=resource_id, **fields)
        else:
            url = client.create_consent(endpoint, consent_id=resource_id, **fields)
    except (AzureRequestError, ValueError) as exc:  # UnsafeOperationURL, or an id Azure would not take
        raise click.ClickException(str(exc)) from None
    finally:
        client.close()
    click.echo(f"Azure accepted the {kind.replace('_', ' ')} {resource_id}")
    _track_and_report(settings, url, kind, resource_id)


@azure.command("create-personal-voice")
@click.option(
    "--endpoint", help="https://<region>.api.cognitive.microsoft.com (default WEBHOOK_APP_AZURE_ENDPOINT)."
)
@click.option(
    "--voice-id", required=True, help="The personal voice id to create (case-sensitive, permanent)."
)
@click.option("--project-id", required=True)
@click.option("--consent-id", required=True)
@click.option("--container-url", required=True, help="Azure Blob container URL with a SAS token.")
@click.option("--prefix", help="Blob name prefix, e.g. jessica/.")
@click.option(
    "--extension",
    "extensions",
    multiple=True,
    default=[".wav"],
    show_default=True,
    help="Audio file extension; .wav and *.wav both work (sent as the api-version spells it).",
)
def azure_create_personal_voice(
    endpoint: str | None,
    voice_id: str,
    project_id: str,
    consent_id: str,
    container_url: str,
    prefix: str | None,
    extensions: tuple[str, ...],
) -> None:
    """PersonalVoices_Create, then track the operation it answers with."""
    from webhook_app.cli.common import command_settings

    _create(
        command_settings(),
        endpoint,
        "personal_voice",
        voice_id,
        project_id=project_id,
        consent_id=consent_id,
        container_url=container_url,
        prefix=prefix,
        extensions=list(extensions),
    )


@azure.command("create-consent")
@click.option(
    "--endpoint", help="https://<region>.api.cognitive.microsoft.com (default WEBHOOK_APP_AZURE_ENDPOINT)."
)
@click.option("--consent-id", required=True)
@click.option("--project-id", required=True)
@click.option("--voice-talent-name", required=True)
@click.option("--company-name", required=True)
@click.option("--audio-url", required=True, help="Public URL of the recorded consent statement.")
@click.option("--locale", required=True, help="BCP-47, e.g. en-US.")
@click.option("--description")
def azure_create_consent(
    endpoint: str | None,
    consent_id: str,
    project_id: str,
    voice_talent_name: str,
    company_name: str,
    audio_url: str,
    locale: str,
    description: str | None,
) -> None:
    """Consents_Create, then track the operation it answers with."""
    from webhook_app.cli.common import command_settings

    _create(
        command_settings(),
        endpoint,
        "consent",
        consent_id,
        project_id=project_id,
        voice_talent_name=voice_talent_name,
        company_name=company_name,
        audio_url=audio_url,
        locale=locale,
        description=description,
    )


@azure.command("operations")
@click.option("--state", type=click.Choice(values(OperationState)))
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
@click.option("--json", "as_json", is_flag=True, help="Print the operations as JSON lines.")
def azure_operations(state: str | None, limit: int, as_json: bool) -> None:
    """Tracked operations, newest first."""
    from webhook_app.cli.common import command_settings, json_default, open_store
    from webhook_app.model.text import printable
    from webhook_app.providers.azure.api import operation_json
    from webhook_app.providers.azure.operations import OperationStore

    operations = OperationStore(open_store(command_settings())).recent(state=state, limit=limit)
    if as_json:
        for op in operations:
            click.echo(json.dumps(operation_json(op), default=json_default))
        return
    for op in operations:
        line = f"{op.id}  {op.kind:<14} {op.resource_id:<30} {op.status:<10} {op.state:<8} polls={op.polls}"
        click.echo(printable(line + (f"  error: {op.last_error}" if op.last_error else "")))
    if not operations:
        click.echo("no tracked operations")
