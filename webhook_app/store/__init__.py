"""Durable storage: tables, migrations and the named queries that change state."""

from webhook_app.store.operations import NewOperation, OperationStore, TooManyOperations, TrackedOperation
from webhook_app.store.store import (
    ClaimedDelivery,
    EventFilters,
    IngestResult,
    NewReceipt,
    PlannedDelivery,
    Store,
    decode_cursor,
)

__all__ = [
    "ClaimedDelivery",
    "EventFilters",
    "IngestResult",
    "NewOperation",
    "NewReceipt",
    "OperationStore",
    "PlannedDelivery",
    "Store",
    "TooManyOperations",
    "TrackedOperation",
    "decode_cursor",
]
