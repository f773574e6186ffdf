"""Azure registered as a provider: it sends no callbacks, so it adds its admin API and its poller."""

from __future__ import annotations

from typing import TYPE_CHECKING

from webhook_app.plugins.provider import OpenAPIFragment, Provider, ProviderSettings
from webhook_app.providers.azure.mapping import PROVIDER
from webhook_app.providers.azure.settings import AzureSettings

if TYPE_CHECKING:
    from flask import Blueprint

    from webhook_app.plugins.job import Job, JobContext


class AzureProvider(Provider):
    """Tracked operations (`/api/azure/operations`) polled by every worker."""

    name = PROVIDER
    title = "Azure"
    sends_callbacks = False

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        self.own = AzureSettings.read(settings)  # a wrong setting stops start-up

    @classmethod
    def openapi(cls) -> OpenAPIFragment:
        from webhook_app.providers.azure.api import openapi_fragment

        return openapi_fragment()

    def blueprints(self) -> list[Blueprint]:
        from webhook_app.providers.azure.api import bp
        from webhook_app.providers.azure.pages import bp as pages

        return [bp, pages]

    def jobs(self, context: JobContext) -> list[Job]:
        from webhook_app.providers.azure.poller import AzurePoller

        return [
            AzurePoller(
                context.database,
                context.ingest,
                context.settings,
                clock=context.clock,
                worker_id=context.worker_id,
            )
        ]
