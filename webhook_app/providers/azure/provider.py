"""Azure registered as a provider: it sends no callbacks, so it adds its admin API and its poller."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from webhook_app.model.states import OperationState
from webhook_app.plugins.provider import OpenAPIFragment, Panel, Provider, ProviderSettings
from webhook_app.providers.azure.mapping import PROVIDER
from webhook_app.providers.azure.settings import AzureSettings
from webhook_app.providers.azure.tables import MIGRATIONS

if TYPE_CHECKING:
    from flask import Blueprint

    from webhook_app.plugins.job import Job, JobContext


class AzureProvider(Provider):
    """Tracked operations (`/api/azure/operations`) polled by every worker."""

    name = PROVIDER
    title = "Azure"
    sends_callbacks = False
    migrations = MIGRATIONS

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        self.own = AzureSettings.read(settings)  # a wrong setting stops start-up

    @classmethod
    def openapi(cls) -> OpenAPIFragment:
        from webhook_app.providers.azure.api import openapi_fragment

        return openapi_fragment()

    @classmethod
    def stats(cls, store: Any) -> dict[str, Any]:
        return {"azure_operations": _operations(store).state_counts()}

    @classmethod
    def attention(cls, store: Any) -> dict[str, Any]:
        counts = _operations(store).state_counts()
        stopped = (OperationState.STALLED.value, OperationState.ERROR.value)
        return {"azure_operations": {state: counts.get(state, 0) for state in stopped}}

    @classmethod
    def process_metrics(cls) -> list[Any]:
        from webhook_app.providers.azure.metrics import POLLS

        return [POLLS]

    @classmethod
    def gauges(cls, store: Any) -> list[Any]:
        from webhook_app.providers.azure.metrics import operation_gauge

        return [operation_gauge(_operations(store).state_counts())]

    @classmethod
    def prunable(cls) -> list[Any]:
        from webhook_app.providers.azure.operations import STOPPED_OPERATIONS

        return [STOPPED_OPERATIONS]

    @classmethod
    def panel(cls, place: str, store: Any, context: Mapping[str, Any]) -> Panel | None:
        from webhook_app.providers.azure.pages import panel

        return panel(place, _operations(store), context)

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


def _operations(store: Any) -> Any:
    from webhook_app.providers.azure.operations import OperationStore

    return OperationStore(store)
