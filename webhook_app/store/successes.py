"""Successes, the outcome of almost every attempt, recorded in the fewest round trips.

Their attempts go into the history, and their deliveries move on only while the worker
still holds the lease. On PostgreSQL both are one statement in autocommit (the attempts
inserted by a data-modifying CTE), so it is all or nothing by itself: one round trip where
BEGIN, the INSERT, the UPDATE and COMMIT were four, and no SQLAlchemy statement to compile or key.
On SQLite, in-process, the same two writes run in the caller's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from webhook_app.model.states import DeliveryStatus
from webhook_app.store.database import Database
from webhook_app.store.fast_path import json_row
from webhook_app.store.lease_queue import LeaseQueue
from webhook_app.store.tables import deliveries

_SUCCEEDED = (
    deliveries.update()
    .where(
        deliveries.c.id.in_(sa.bindparam("ids", expanding=True)),
        deliveries.c.locked_by == sa.bindparam("worker", type_=deliveries.c.locked_by.type),
    )
    .values(
        **LeaseQueue.RELEASED,
        status=DeliveryStatus.SUCCEEDED.value,
        attempts=deliveries.c.attempts + 1,
        last_error=None,
        updated_at=sa.bindparam("finished", type_=deliveries.c.updated_at.type),
    )
    .returning(deliveries.c.id)
)
"""Successes still held by the worker, moved on together (built once: the worker's most run write)."""

_ATTEMPT_COLUMNS = ("delivery_id", "number", "started_at", "finished_at", "outcome", "error", "worker",
                    "route", "status_code", "duration_ms", "response")  # fmt: skip

# The attempts travel as one JSON array (`jsonb_to_recordset`), as ingest's rows do.
_POSTGRES_SQL = f"""
WITH recorded AS (
    INSERT INTO attempts ({", ".join(_ATTEMPT_COLUMNS)})
    SELECT * FROM jsonb_to_recordset(%(attempts)s::jsonb) AS u(
        delivery_id text, number int, started_at timestamptz, finished_at timestamptz, outcome text,
        error text, worker text, route text, status_code int, duration_ms int, response text)
)
UPDATE deliveries
SET locked_by = NULL, locked_until = NULL, status = '{DeliveryStatus.SUCCEEDED.value}',
    attempts = attempts + 1, last_error = NULL, updated_at = %(finished)s
WHERE id = ANY(%(ids)s) AND locked_by = %(worker)s
RETURNING id
"""  # noqa: S608 - the names and the status are our own constants


def record_successes(db: Database, rows: Sequence[dict[str, Any]], worker: str) -> set[str]:
    """PostgreSQL: record the successful attempts `rows` (as `attempts` keeps them) and move on
    the deliveries `worker` still holds, in one statement; the ids it held."""
    params = {
        "attempts": json.dumps([json_row(row, _ATTEMPT_COLUMNS) for row in rows]),
        "ids": [row["delivery_id"] for row in rows],
        "worker": worker,
        "finished": max(row["finished_at"] for row in rows),
    }
    with db.alone(writes=True) as conn:
        return set(conn.exec_driver_sql(_POSTGRES_SQL, params).scalars())


def move_on_succeeded(conn: sa.Connection, ids: Sequence[str], worker: str, finished: datetime) -> set[str]:
    """In the caller's transaction, the deliveries `worker` still holds among `ids`, moved on
    as succeeded: the ids it held."""
    return set(conn.execute(_SUCCEEDED, {"ids": list(ids), "worker": worker, "finished": finished}).scalars())
