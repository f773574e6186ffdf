"""The store: one object over the database, made of one part per aggregate.

- `ingest`: receipts, events and their deliveries recorded together (one dedupe policy);
- `deliveries`: the delivery queue (leases, attempts, retries, replays);
- `route_health`: each route's state (paused, probed, rate-limited) and recent attempts;
- `reads`: what the API, pages, CLI and `/metrics` read;
- `rollups`: voices, events per hour and attempts per hour, kept by a worker job;
- `retention`: `prune`;
- `operations` (a store of its own, `OperationStore`): tracked Azure operations.
Both queues lease rows the same way (`lease_queue.LeaseQueue`).
"""

from __future__ import annotations

from webhook_app.store.deliveries import DeliveryStore
from webhook_app.store.ingest import IngestStore
from webhook_app.store.reads import ReadModels
from webhook_app.store.retention import Retention
from webhook_app.store.rollups import RollupStore
from webhook_app.store.route_health import RouteHealthStore


class Store(IngestStore, DeliveryStore, RouteHealthStore, RollupStore, ReadModels, Retention):
    """Every read and every state change of receipts, events and deliveries, one named method each."""
