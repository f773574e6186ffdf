"""Azure's own table: `prune` removes operations that stopped long ago, through the provider's hook."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from click.testing import CliRunner

from webhook_app.cli import cli
from webhook_app.model.states import OperationState
from webhook_app.providers.azure.operations import NewOperation, OperationStore
from webhook_app.providers.azure.tables import azure_operations
from webhook_app.store import Store

NOW = datetime.now(UTC)


def tracked(store: Store, name: str, state: OperationState, age_days: float) -> str:
    new = NewOperation(
        operation_url=f"https://eastus.api.cognitive.microsoft.com/speechtotext/operations/{name}",
        operation_id=name,
        kind="personal_voice",
        resource_id=f"voice-{name}",
        interval_seconds=10,
    )
    operation, _ = OperationStore(store).track(new, now=NOW, limit=100)
    with store.writing() as conn:  # as if it stopped (or was last polled) `age_days` ago
        conn.execute(
            azure_operations.update()
            .where(azure_operations.c.id == operation.id)
            .values(state=state.value, updated_at=NOW - timedelta(days=age_days))
        )
    return operation.id


def test_prune_removes_old_stopped_operations_and_keeps_active_and_recent_ones(
    settings: Any, store: Store
) -> None:
    tracked(store, "old-finished", OperationState.FINISHED, 100)
    tracked(store, "old-error", OperationState.ERROR, 100)
    active = tracked(store, "old-active", OperationState.ACTIVE, 100)
    recent = tracked(store, "recent-finished", OperationState.FINISHED, 1)
    env = {"WEBHOOK_APP_DATABASE_URL": settings.database_url, "WEBHOOK_APP_DATA_DIR": settings.data_dir}

    dry = CliRunner().invoke(cli, ["prune", "--older-than", "90d", "--dry-run"], env=env)
    assert dry.exit_code == 0 and "2 azure_operations" in dry.output, dry.output
    result = CliRunner().invoke(cli, ["prune", "--older-than", "90d", "--yes"], env=env)

    assert result.exit_code == 0 and "2 azure_operations removed" in result.output, result.output
    with store.reading() as conn:
        left = set(conn.execute(sa.select(azure_operations.c.id)).scalars())
    assert left == {active, recent}
