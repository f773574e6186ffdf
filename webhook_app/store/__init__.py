"""Durable storage: tables, migrations and the named queries that change state."""

from webhook_app.model.receipts import IngestResult, NewReceipt
from webhook_app.store.cursors import decode_cursor
from webhook_app.store.records import ClaimedDelivery, EventFilters, PlannedDelivery
from webhook_app.store.store import Store

__all__ = [
    "ClaimedDelivery",
    "EventFilters",
    "IngestResult",
    "NewReceipt",
    "PlannedDelivery",
    "Store",
    "decode_cursor",
]
