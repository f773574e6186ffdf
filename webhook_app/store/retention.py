"""Retention: what `prune` removes, and what it would."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa

from webhook_app.model.states import OperationState
from webhook_app.store.database import Database
from webhook_app.store.tables import (
    DUE_STATUSES,
    attempts,
    azure_operations,
    deliveries,
    events,
    receipts,
    voices,
)

PRUNED = ("events", "deliveries", "attempts", "receipts", "azure_operations", "voices")
"""What `prune` removes, in the order it reports them."""


class Retention:
    def __init__(self, db: Database) -> None:
        self.db = db

    def prune(
        self,
        *,
        before: datetime,
        batch: int = 1000,
        progress: Callable[[str, int], None] | None = None,
    ) -> dict[str, int]:
        """Delete what is older than `before`, `batch` rows per short transaction.

        Events go with their deliveries and attempts only when none of those deliveries is
        still `pending` or `failed` (to be retried); receipts go once no event refers to them;
        tracked Azure operations once they stopped; a voice's row in the voices list once its
        last activity is older and none of its events is left. Returns how many of each were
        removed.
        """
        removed = dict.fromkeys(PRUNED, 0)
        unfinished = sa.exists().where(
            deliveries.c.event_id == events.c.id, deliveries.c.status.in_(DUE_STATUSES)
        )
        # Rows are locked before they are deleted, then checked again: a delivery (a replay) or
        # an event (a reprocess) added meanwhile keeps its row, instead of being deleted with
        # it or failing the delete on its foreign key. On PostgreSQL such an insert waits for
        # the lock (it takes a share of the row it refers to); SQLite has one writer at a time.
        prunable_events = sa.and_(events.c.occurred_at < before, ~unfinished)
        old_events = sa.select(events.c.id).where(prunable_events).limit(batch).with_for_update()
        referenced = sa.exists().where(events.c.receipt_id == receipts.c.id)
        prunable_receipts = sa.and_(receipts.c.received_at < before, ~referenced)
        old_receipts = sa.select(receipts.c.id).where(prunable_receipts).limit(batch).with_for_update()
        old_operations = (
            sa.select(azure_operations.c.id)
            .where(
                azure_operations.c.state != OperationState.ACTIVE.value,
                azure_operations.c.updated_at < before,
            )
            .limit(batch)
        )
        old_voices = (
            sa.select(voices.c.provider, voices.c.voice_id)
            .where(voices.c.last_event_at < before, ~_events_of_voice())
            .limit(batch)
        )
        while True:
            with self.db.writing() as conn:
                locked = list(conn.execute(old_events).scalars())
                if not locked:
                    break
                event_ids = list(
                    conn.execute(
                        sa.select(events.c.id).where(events.c.id.in_(locked), prunable_events)
                    ).scalars()
                )
                delivery_ids = list(
                    conn.execute(
                        sa.select(deliveries.c.id).where(deliveries.c.event_id.in_(event_ids))
                    ).scalars()
                )
                removed["attempts"] += conn.execute(
                    attempts.delete().where(attempts.c.delivery_id.in_(delivery_ids))
                ).rowcount
                removed["deliveries"] += conn.execute(
                    deliveries.delete().where(deliveries.c.id.in_(delivery_ids))
                ).rowcount
                removed["events"] += conn.execute(events.delete().where(events.c.id.in_(event_ids))).rowcount
            if progress:
                progress("events", len(event_ids))
        for name, table, query, still in (
            ("receipts", receipts, old_receipts, prunable_receipts),
            ("azure_operations", azure_operations, old_operations, sa.true()),
        ):
            while True:
                with self.db.writing() as conn:
                    ids = list(conn.execute(query).scalars())
                    if ids:
                        removed[name] += conn.execute(
                            table.delete().where(table.c.id.in_(ids), still)
                        ).rowcount
                if not ids:
                    break
                if progress:
                    progress(name, len(ids))
        while True:
            with self.db.writing() as conn:
                keys = [tuple(row) for row in conn.execute(old_voices)]
                if keys:
                    key = sa.tuple_(voices.c.provider, voices.c.voice_id)
                    removed["voices"] += conn.execute(voices.delete().where(key.in_(keys))).rowcount
            if not keys:
                break
            if progress:
                progress("voices", len(keys))
        return removed

    def prune_counts(self, *, before: datetime) -> dict[str, int]:
        """What `prune(before=…)` would remove, counted without removing anything."""
        unfinished = sa.exists().where(
            deliveries.c.event_id == events.c.id, deliveries.c.status.in_(DUE_STATUSES)
        )
        prunable = sa.and_(events.c.occurred_at < before, ~unfinished)
        event_ids = sa.select(events.c.id).where(prunable)
        delivery_ids = sa.select(deliveries.c.id).where(deliveries.c.event_id.in_(event_ids))
        kept_reference = sa.exists().where(events.c.receipt_id == receipts.c.id, ~prunable)
        counts = {
            "events": sa.select(sa.func.count()).select_from(events).where(prunable),
            "deliveries": sa.select(sa.func.count())
            .select_from(deliveries)
            .where(deliveries.c.id.in_(delivery_ids)),
            "attempts": sa.select(sa.func.count())
            .select_from(attempts)
            .where(attempts.c.delivery_id.in_(delivery_ids)),
            "receipts": sa.select(sa.func.count())
            .select_from(receipts)
            .where(receipts.c.received_at < before, ~kept_reference),
            "azure_operations": sa.select(sa.func.count())
            .select_from(azure_operations)
            .where(
                azure_operations.c.state != OperationState.ACTIVE.value,
                azure_operations.c.updated_at < before,
            ),
            "voices": sa.select(sa.func.count())
            .select_from(voices)
            .where(voices.c.last_event_at < before, ~_events_of_voice(~prunable)),
        }
        with self.db.reading() as conn:
            return {name: int(conn.execute(query).scalar_one()) for name, query in counts.items()}


def _events_of_voice(*conditions: sa.ColumnElement[bool]) -> sa.Exists:
    """Whether any event of the voices row in the enclosing query exists (and meets `conditions`)."""
    return sa.exists().where(
        events.c.voice_id == voices.c.voice_id, events.c.provider == voices.c.provider, *conditions
    )
