"""Tracked Azure operations: each poll outcome is one named, guarded transition of a row."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from webhook_app.errors import WebhookAppError
from webhook_app.model.events import new_id
from webhook_app.model.states import OperationState
from webhook_app.model.text import made_storable
from webhook_app.providers.azure.tables import azure_operations
from webhook_app.store.lease_queue import LeaseQueue
from webhook_app.store.retention import PrunableRows
from webhook_app.store.store import Store

OPERATION_QUEUE = LeaseQueue(
    azure_operations,
    azure_operations.c.next_poll_at,
    azure_operations.c.state == OperationState.ACTIVE.value,
)


@dataclass(frozen=True)
class NewOperation:
    operation_url: str
    operation_id: str
    kind: str
    resource_id: str
    interval_seconds: float
    status: str = "NotStarted"
    id: str = field(default_factory=lambda: new_id("op"))


@dataclass(frozen=True)
class TrackedOperation:
    id: str
    operation_url: str
    operation_id: str
    kind: str
    resource_id: str
    status: str
    state: str
    polls: int
    interval_seconds: float
    next_poll_at: datetime
    created_at: datetime
    last_error: str | None


class TooManyOperations(WebhookAppError):
    """The limit of active tracked operations (`MAX_TRACKED_OPERATIONS`) is reached."""

    status, code = 429, "too_many_operations"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"{limit} Azure operations are being tracked already (WEBHOOK_APP_MAX_TRACKED_OPERATIONS);"
            " wait for some to finish, or raise the limit."
        )


class OperationStore:
    """Tracked Azure operations: each poll outcome is one named, guarded transition."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def track(self, new: NewOperation, *, now: datetime, limit: int) -> tuple[TrackedOperation, bool]:
        """Start tracking (first poll after `interval_seconds`); returns (operation, created).

        Tracking a URL already tracked returns that operation; one stopped by an error
        (e.g. a wrong key) becomes active again, so fixing the key and tracking resumes it.
        `TooManyOperations` when `limit` operations are active already.
        """
        row = {
            "id": new.id,
            "operation_url": new.operation_url,
            "operation_id": new.operation_id,
            "kind": new.kind,
            "resource_id": new.resource_id,
            "status": new.status,
            "state": OperationState.ACTIVE.value,
            "polls": 0,
            "interval_seconds": new.interval_seconds,
            "next_poll_at": now + timedelta(seconds=new.interval_seconds),
            "created_at": now,
            "updated_at": now,
        }
        with self.store.writing() as conn:
            active = conn.execute(
                sa.select(sa.func.count())
                .select_from(azure_operations)
                .where(azure_operations.c.state == OperationState.ACTIVE.value)
            ).scalar_one()
            if active >= limit:
                known = conn.execute(
                    sa.select(azure_operations.c.id).where(
                        azure_operations.c.operation_url == new.operation_url,
                        azure_operations.c.state != OperationState.ERROR.value,
                    )
                ).first()
                if known is None:
                    raise TooManyOperations(limit)
            inserted = conn.execute(
                self.store.insert_ignoring_conflict(azure_operations, row).returning(azure_operations.c.id)
            ).first()
            if inserted is None:
                conn.execute(
                    azure_operations.update()
                    .where(
                        azure_operations.c.operation_url == new.operation_url,
                        azure_operations.c.state == OperationState.ERROR.value,
                    )
                    .values(
                        state=OperationState.ACTIVE.value,
                        next_poll_at=now,
                        last_error=None,
                        locked_by=None,
                        updated_at=now,
                    )
                )
            found = conn.execute(
                sa.select(azure_operations).where(azure_operations.c.operation_url == new.operation_url)
            ).one()
        return _operation(found), inserted is not None

    def claim_due(
        self, *, worker: str, now: datetime, limit: int, lease: timedelta
    ) -> list[TrackedOperation]:
        """Lease due active operations, as deliveries are leased."""
        with self.store.writing() as conn:
            claimed = OPERATION_QUEUE.claim(
                conn, worker=worker, now=now, limit=limit, lease=lease, returning=tuple(azure_operations.c)
            )
        return [_operation(row) for row in claimed]

    def record_poll(
        self,
        operation: TrackedOperation,
        *,
        worker: str,
        now: datetime,
        next_poll_at: datetime,
        interval_seconds: float,
        last_error: str | None,
    ) -> bool:
        """A poll that changed nothing (or failed and will be retried): schedule the next one."""
        with self.store.writing() as conn:
            return self.move(
                conn,
                operation,
                worker=worker,
                polls=operation.polls + 1,
                next_poll_at=next_poll_at,
                interval_seconds=interval_seconds,
                last_error=last_error,
                updated_at=now,
            )

    def move(self, conn: sa.Connection, operation: TrackedOperation, *, worker: str, **values: Any) -> bool:
        """Update a claimed operation in the caller's transaction, if it is still leased to
        `worker` and still in the status it was claimed in, so a transition is recorded once
        even if two workers polled the same operation. Releases the lease."""
        if "last_error" in values:
            values["last_error"] = _storable_error(values["last_error"])
        updated = conn.execute(
            azure_operations.update()
            .where(
                OPERATION_QUEUE.held_by(operation.id, worker), azure_operations.c.status == operation.status
            )
            .values(**LeaseQueue.RELEASED, **values)
            .returning(azure_operations.c.id)
        ).first()
        return updated is not None

    def next_due_at(self) -> datetime | None:
        with self.store.reading() as conn:
            return OPERATION_QUEUE.next_due_at(conn)

    def get(self, operation_id: str) -> TrackedOperation | None:
        with self.store.reading() as conn:
            row = conn.execute(
                sa.select(azure_operations).where(azure_operations.c.id == operation_id)
            ).first()
        return _operation(row) if row else None

    def of_resource(self, resource_id: str) -> list[TrackedOperation]:
        """The operations tracked for one personal voice or consent, oldest first."""
        query = (
            sa.select(azure_operations)
            .where(azure_operations.c.resource_id == resource_id)
            .order_by(azure_operations.c.created_at)
        )
        with self.store.reading() as conn:
            return [_operation(row) for row in conn.execute(query).all()]

    def state_counts(self) -> dict[str, int]:
        """Tracked operations by state (for `/api/stats`, the dashboard and `/metrics`)."""
        query = sa.select(azure_operations.c.state, sa.func.count()).group_by(azure_operations.c.state)
        with self.store.reading() as conn:
            return {state: count for state, count in conn.execute(query)}

    def recent(self, *, state: str | None, limit: int) -> list[TrackedOperation]:
        query = sa.select(azure_operations).order_by(azure_operations.c.created_at.desc()).limit(limit)
        if state is not None:
            query = query.where(azure_operations.c.state == state)
        with self.store.reading() as conn:
            return [_operation(row) for row in conn.execute(query).all()]


STOPPED_OPERATIONS = PrunableRows(
    "azure_operations",
    azure_operations,
    lambda before: sa.and_(
        azure_operations.c.state != OperationState.ACTIVE.value, azure_operations.c.updated_at < before
    ),
)
"""What `prune` removes of Azure's: operations that stopped being polled before the cut-off."""


def _storable_error(error: str | None) -> str | None:
    """What Azure said is kept as text both databases take (PostgreSQL refuses NUL)."""
    return made_storable(error) if error is not None else None


def _operation(row: Any) -> TrackedOperation:
    return TrackedOperation(
        id=row.id,
        operation_url=row.operation_url,
        operation_id=row.operation_id,
        kind=row.kind,
        resource_id=row.resource_id,
        status=row.status,
        state=row.state,
        polls=row.polls,
        interval_seconds=row.interval_seconds,
        next_poll_at=row.next_poll_at,
        created_at=row.created_at,
        last_error=row.last_error,
    )
