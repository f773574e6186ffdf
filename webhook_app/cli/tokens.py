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
    from webhook_app.config.plugins import callback_providers

    settings = command_settings()
    providers = callback_providers()
    if not settings.admin_tokens and not any(settings.callback_tokens(p.name) for p in providers):
        raise click.ClickException(
            f"no tokens in the environment or in {settings.data_dir}/webhook_app.tokens.json; "
            "'webhook-app serve' makes them on its first start (run this where it runs,"
            " or set WEBHOOK_APP_DATA_DIR)"
        )
    base = settings.public_url or "http://127.0.0.1:8000"
    for provider in providers:
        for token in settings.callback_tokens(provider.name):
            click.echo(f"{provider.display_name()} callback_uri: {base}/hooks/{provider.name}/{token}")
    for token in settings.admin_tokens:
        click.echo(f"Admin token:           {token}")
    if not settings.public_url:
        click.echo(
            "(the address is serve's default: set WEBHOOK_APP_PUBLIC_URL to the one providers reach)",
            err=True,
        )
