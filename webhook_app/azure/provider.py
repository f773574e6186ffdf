"""Azure registered as a provider: it sends no callbacks, so it adds its admin API and its poller."""

from __future__ import annotations

from typing import TYPE_CHECKING

from webhook_app.azure.mapping import PROVIDER
from webhook_app.provider import Provider

if TYPE_CHECKING:
    from flask import Blueprint

    from webhook_app.worker import Job, JobContext


class AzureProvider(Provider):
    """Tracked operations (`/api/azure/operations`) polled by every worker."""

    name = PROVIDER
    sends_callbacks = False

    def blueprints(self) -> list[Blueprint]:
        from webhook_app.azure.api import bp
        from webhook_app.azure.pages import bp as pages

        return [bp, pages]

    def jobs(self, context: JobContext) -> list[Job]:
        from webhook_app.azure.poller import AzurePoller

        return [
            AzurePoller(
                context.store,
                context.settings.routes,
                context.settings,
                clock=context.clock,
                worker_id=context.worker_id,
            )
        ]
