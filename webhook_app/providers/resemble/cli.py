"""`webhook-app resemble …`: create a Resemble voice whose callback is this service, upload its
recordings, start training. Whatever Resemble says is printed with control characters escaped
and the API key redacted (`client.py`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from webhook_app.model.text import printable

if TYPE_CHECKING:
    from webhook_app.config.settings import Settings
    from webhook_app.store import Store


@click.group()
def resemble() -> None:
    """Resemble AI: create a voice with its callback wired to this service, upload recordings, train."""


def _resemble_client(settings: Settings) -> Any:
    from webhook_app.providers.resemble.client import ResembleClient
    from webhook_app.providers.resemble.settings import ResembleSettings

    own = ResembleSettings.read(settings)
    return ResembleClient(own.api_key, own.api_url, own.allowed_hosts)


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
        tokens = settings.callback_tokens("resemble")
        if not tokens:
            raise click.ClickException(
                "no callback token: run 'webhook-app serve' once in this folder,"
                " or set WEBHOOK_APP_RESEMBLE_TOKENS"
            )
        url = f"{settings.public_url}/hooks/resemble/{tokens[0]}"
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


def _voice_uuid(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    from webhook_app.providers.resemble.client import check_voice_uuid

    try:
        return check_voice_uuid(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


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
@click.option("--dataset-url", help="A URL to the dataset to train on (else: upload-recordings, then build).")
@click.option("--language", help="The voice's language, e.g. en-US (Resemble's default: en-US).")
@click.option("--description", help="A description of the voice.")
@click.option(
    "--callback-url", help="Where Resemble calls back (default: PUBLIC_URL/hooks/resemble/<token>)."
)
@click.option("--build", "start_build", is_flag=True, help="Start training right after creating it.")
def resemble_create_voice(
    name: str,
    consent_file: Path,
    voice_type: str | None,
    dataset_url: str | None,
    language: str | None,
    description: str | None,
    callback_url: str | None,
    start_build: bool,
) -> None:
    """Create a voice whose callback_uri is this service, and start its timeline with its first status."""
    from webhook_app.cli.common import command_settings, open_store
    from webhook_app.providers.resemble.client import ResembleRequestError

    settings = command_settings()
    callback = _callback_url(settings, callback_url)
    store = open_store(settings)
    client = _resemble_client(settings)
    try:
        try:
            item = client.create_voice(
                name=name,
                consent=consent_file.read_bytes(),
                callback_uri=callback,
                voice_type=voice_type,
                dataset_url=dataset_url,
                language=language,
                description=description,
            )
        except ResembleRequestError as refused:
            raise click.ClickException(_refusal_with_voice(store, settings, refused)) from None
        event = _record_creation(store, settings, item)
        click.echo(printable(item["uuid"]))
        status = printable(str(item.get("status")))
        click.echo(f"created voice {printable(name)!r}: status {status}; event {event.id}", err=True)
        if start_build:
            click.echo(f"build: {client.build(item['uuid'])}", err=True)
        elif not dataset_url:
            click.echo(
                f"next: webhook-app resemble upload-recordings {printable(item['uuid'])} DIR "
                "--transcripts FILE.csv, then build",
                err=True,
            )
    finally:
        client.close()
        store.dispose()


def _refusal_with_voice(store: Store, settings: Settings, refused: Any) -> str:
    """The refusal's message; when Resemble made the voice all the same, that too, and the
    voice's status on its timeline, recorded as the refusal it is."""
    item = refused.item
    if not isinstance(item, dict) or not isinstance(item.get("uuid"), str) or not _is_uuid(item["uuid"]):
        return str(refused)
    event = _record_creation(store, settings, item, refusal=str(refused))
    status = printable(str(item.get("status") or "unknown"))
    return (
        f"{refused} (the voice exists all the same: {printable(item['uuid'])}, status {status}; "
        f"recorded as event {event.id})"
    )


def _is_uuid(value: str) -> bool:
    from webhook_app.providers.resemble.client import VOICE_UUID

    return bool(VOICE_UUID.match(value))


@resemble.command("build")
@click.argument("uuid", callback=_voice_uuid)
@click.option("--force", is_flag=True, help="Build even with fewer recordings than the voice type needs.")
def resemble_build(uuid: str, force: bool) -> None:
    """Start training a voice (Resemble's Build voice), once it has the recordings it needs."""
    from webhook_app.cli.common import command_settings

    client = _resemble_client(command_settings())
    try:
        if not force:
            _refuse_too_few_recordings(client, uuid)
        click.echo(client.build(uuid))
    finally:
        client.close()


def _refuse_too_few_recordings(client: Any, uuid: str) -> None:
    from webhook_app.providers.resemble.uploads import DEFAULT_VOICE_TYPE, MINIMUM_RECORDINGS, still_needed

    voice = client.get_voice(uuid)
    if voice.get("dataset_url"):
        return  # trained from its dataset, not from uploaded recordings
    voice_type = str(voice.get("voice_type") or DEFAULT_VOICE_TYPE)
    have = len(client.recordings(uuid))
    missing = still_needed(voice_type, have)
    if missing:
        raise click.ClickException(
            f"a {printable(voice_type)} voice needs at least {MINIMUM_RECORDINGS.get(voice_type)} recordings "
            f"before it is built; {uuid} has {have}: upload {missing} more "
            f"(webhook-app resemble upload-recordings {uuid} DIR --transcripts FILE.csv), or pass --force"
        )


@resemble.command("upload-recordings")
@click.argument("uuid", callback=_voice_uuid)
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--transcripts",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV with columns name (a file in FOLDER) and text; optional emotion, is_active.",
)
def resemble_upload_recordings(uuid: str, folder: Path, transcripts: Path) -> None:
    """Upload each WAV file of FOLDER named in the transcripts to the voice (Create recording).

    Run it again after a cut: what Resemble already has, or what a run uploaded, is skipped."""
    import sys

    from webhook_app.cli.common import command_settings
    from webhook_app.providers.resemble.client import ResembleRequestError
    from webhook_app.providers.resemble.uploads import (
        Journal,
        TranscriptsError,
        check_files,
        read_transcripts,
    )

    settings = command_settings()
    try:
        checks = check_files(read_transcripts(transcripts), folder)
    except TranscriptsError as exc:
        raise click.ClickException(str(exc)) from None
    client = _resemble_client(settings)
    journal = Journal(Path(settings.data_dir), uuid)
    counts = {"uploaded": 0, "skipped": 0, "refused": 0, "failed": 0}
    try:
        have = {str(r.get("name")) for r in client.recordings(uuid)} | journal.names()
        with click.progressbar(checks, label="uploading", file=sys.stderr, item_show_func=_shown) as bar:
            for check in bar:
                outcome = _upload_one(client, uuid, check, have, journal)
                counts[outcome.split(":", 1)[0]] += 1
                click.echo(f"{printable(check.row.name)}: {outcome}")
        total = len(client.recordings(uuid))
    except ResembleRequestError as exc:
        raise click.ClickException(f"{exc}; run the same command again to go on where it stopped") from None
    finally:
        client.close()
    click.echo(", ".join(f"{n} {what}" for what, n in counts.items()) + f"; the voice has {total} recordings")
    _say_what_build_needs(uuid, total)
    if counts["refused"] or counts["failed"]:
        sys.exit(1)


def _shown(check: Any) -> str | None:
    return printable(check.row.name) if check is not None else None


def _upload_one(client: Any, uuid: str, check: Any, have: set[str], journal: Any) -> str:
    """`uploaded`, `skipped: …`, `refused: …` (the file) or `failed: …` (Resemble refused it)."""
    from webhook_app.providers.resemble.client import ResembleRequestError

    if check.problem:
        return f"refused: {check.problem}"
    if check.row.name in have:
        return "skipped: uploaded already"
    row = check.row
    try:
        item = client.upload_recording(
            uuid, audio=check.path.read_bytes(), file_name=row.name, name=row.name, text=row.text,
            emotion=row.emotion, is_active=row.is_active,
        )  # fmt: skip
    except ResembleRequestError as exc:
        if not exc.passing:
            return f"failed: {exc}"
        raise  # Resemble is out of reach or failing: stop, the next run goes on from here
    journal.add(row.name, item.get("uuid"))
    have.add(row.name)
    return "uploaded"


def _say_what_build_needs(uuid: str, total: int) -> None:
    from webhook_app.providers.resemble.uploads import MINIMUM_RECORDINGS

    for voice_type, minimum in MINIMUM_RECORDINGS.items():
        state = "enough" if total >= minimum else f"{minimum - total} more needed"
        click.echo(f"  a {voice_type} voice needs {minimum}: {state}", err=True)
    click.echo(f"then: webhook-app resemble build {uuid}", err=True)


def _record_creation(
    store: Store, settings: Settings, item: dict[str, Any], refusal: str | None = None
) -> Any:
    """`voice.status.changed` with the status Resemble answered: the voice's timeline starts here,
    delivered to the routes like any event; the receipt keeps Resemble's answer. A creation
    Resemble refused while making the voice is recorded as such (`ok` false, the refusal as
    the issue), never as a success."""
    from webhook_app.cli.common import routes_in_use
    from webhook_app.model.events import Event, EventData, EventType
    from webhook_app.providers.resemble import callbacks as provider
    from webhook_app.store import NewReceipt
    from webhook_app.usecases.ingest import record_events

    now = datetime.now(UTC)
    body = json.dumps({"created": item} if refusal is None else {"refused": refusal, "item": item}).encode()
    receipt = NewReceipt(
        provider=provider.PROVIDER, received_at=now, body=body, headers={}, content_type="application/json"
    )
    status = str(item.get("status") or ("created" if refusal is None else "refused"))
    name = item.get("name")
    data = EventData(
        provider=provider.PROVIDER,
        voice_id=item["uuid"],
        status=status,
        ok=refusal is None,
        issue=refusal,
        voice_name=str(name)[:200] if name else None,
    )
    event = Event(
        type=EventType.STATUS_CHANGED, source=provider.SOURCE, time=now, data=data, receipt_id=receipt.id
    )
    routes = routes_in_use(settings, store).routes
    record_events(store, routes, receipt, [event], dedupe_key=None, dedupe_window=timedelta(0))
    return event
