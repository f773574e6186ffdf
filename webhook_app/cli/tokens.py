"""`tokens show`: the callback URL and admin tokens this installation uses."""

from __future__ import annotations

import click

from webhook_app.cli.common import command_settings


@click.group()
def tokens() -> None:
    """The callback URL and admin tokens this installation uses."""


@tokens.command("show")
def tokens_show() -> None:
    """Print the callback URL(s) and admin token(s), from the environment or the tokens file `serve` made."""
    settings = command_settings()
    if not settings.resemble_tokens and not settings.admin_tokens:
        raise click.ClickException(
            f"no tokens in the environment or in {settings.data_dir}/webhook_app.tokens.json; "
            "'webhook-app serve' makes them on its first start (run this where it runs,"
            " or set WEBHOOK_APP_DATA_DIR)"
        )
    base = settings.public_url or "http://127.0.0.1:8000"
    for token in settings.resemble_tokens:
        click.echo(f"Resemble callback_uri: {base}/hooks/resemble/{token}")
    for token in settings.admin_tokens:
        click.echo(f"Admin token:           {token}")
    if not settings.public_url:
        click.echo(
            "(the address is serve's default: set WEBHOOK_APP_PUBLIC_URL to the one Resemble reaches)",
            err=True,
        )
