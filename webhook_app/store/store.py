"""The store: the database, and one object per aggregate holding that aggregate's named queries.

- `ingest`: receipts, events and their deliveries recorded together (one dedupe policy);
- `deliveries`: the delivery queue (leases, attempts, retries);
- `replays`: deliveries added again (replays and bulk retries), each at most once;
- `route_health`: each route's state (paused, probed, rate-limited) and recent attempts;
- `reads`: what the API, pages, CLI and `/metrics` read;
- `rollups`: voices, events per hour and attempts per hour, kept by a worker job;
- `retention`: `prune`;
- `routes`: the routes every process reads, and their generation;
- `keys`: the named API keys (hashes, roles, revocations);
- `audit`: the audit log, written by each change in its own transaction.
Providers keep their own tables beside these (`Provider.migrations`); a queue among them
leases rows as the deliveries do (`lease_queue.LeaseQueue`).
"""

from __future__ import annotations

import sqlalchemy as sa

from webhook_app.store.audit import AuditLog
from webhook_app.store.database import Database
from webhook_app.store.deliveries import DeliveryStore
from webhook_app.store.ingest import IngestStore
from webhook_app.store.keys import KeyStore
from webhook_app.store.reads import ReadModels
from webhook_app.store.replays import ReplayStore
from webhook_app.store.retention import Retention
from webhook_app.store.rollups import RollupStore
from webhook_app.store.route_health import RouteHealthStore
from webhook_app.store.routes import RouteStore


class Store(Database):
    """The database (transactions, engine) and its parts, each named for what it keeps."""

    def __init__(self, engine: sa.Engine) -> None:
        super().__init__(engine)
        self.ingest = IngestStore(self)
        self.deliveries = DeliveryStore(self)
        self.replays = ReplayStore(self)
        self.route_health = RouteHealthStore(self)
        self.rollups = RollupStore(self)
        self.reads = ReadModels(self)
        self.retention = Retention(self)
        self.routes = RouteStore(self)
        self.keys = KeyStore(self)
        self.audit = AuditLog(self)

    def dispose(self) -> None:
        self.ingest.close()
        super().dispose()
