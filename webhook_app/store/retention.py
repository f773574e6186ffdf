"""Retention: what `prune` removes, and what it would."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from webhook_app.store.audit import Audit
from webhook_app.store.database import Database
from webhook_app.store.tables import DUE_STATUSES, attempts, deliveries, events, receipts, voices

PRUNED = ("events", "deliveries", "attempts", "receipts", "voices")
"""What `prune` removes of the service's own, in the order it reports them."""


@dataclass(frozen=True)
class PrunableRows:
    """Rows of a provider's table that `prune` removes: those `old(before)` selects, which no
    other row refers to (`Provider.prunable`)."""

    name: str
    table: sa.Table
    old: Callable[[datetime], sa.ColumnElement[bool]]


class Retention:
    def __init__(self, db: Database) -> None:
        self.db = db

    def prune(
        self,
        *,
        before: datetime,
        batch: int = 1000,
        progress: Callable[[str, int], None] | None = None,
        also: Sequence[PrunableRows] = (),
        audit: Audit,
    ) -> dict[str, int]:
        """Delete what is older than `before`, `batch` rows per short transaction, each of which
        brings the one `audit` entry up to date with what has been removed so far.

        Events go with their deliveries and attempts only when none of those deliveries is
        still `pending` or `failed` (to be retried); receipts go once no event refers to them;
        a voice's row in the voices list once its last activity is older and none of its events
        is left; the providers' rows (`also`) as they say. Returns how many of each were removed.
        """
        removed = dict.fromkeys((*PRUNED, *(rows.name for rows in also)), 0)
        report = progress or (lambda _name, _count: None)
        unfinished = sa.exists().where(
            deliveries.c.event_id == events.c.id, deliveries.c.status.in_(DUE_STATUSES)
        )
        # Rows are locked before they are deleted, then checked again: a delivery (a replay) or
        # an event (a reprocess) added meanwhile keeps its row, instead of being deleted with
        # it or failing the delete on its foreign key. On PostgreSQL such an insert waits for
        # the lock (it takes a share of the row it refers to); SQLite has one writer at a time.
        self._prune_events(sa.and_(events.c.occurred_at < before, ~unfinished), batch, removed, report, audit)
        referenced = sa.exists().where(events.c.receipt_id == receipts.c.id)
        prunable_receipts = sa.and_(receipts.c.received_at < before, ~referenced)
        for name, table, prunable in (
            ("receipts", receipts, prunable_receipts),
            *((rows.name, rows.table, rows.old(before)) for rows in also),
        ):
            old = sa.select(table.c.id).where(prunable).limit(batch).with_for_update()
            self._prune_rows(name, table, old, prunable, removed, report, audit)
        self._prune_voices(before, batch, removed, report, audit)
        return removed

    def _prune_events(
        self,
        prunable: Any,
        batch: int,
        removed: dict[str, int],
        report: Callable[[str, int], None],
        audit: Audit,
    ) -> None:
        """Events with their deliveries and attempts, a batch per transaction."""
        old_events = sa.select(events.c.id).where(prunable).limit(batch).with_for_update()
        while True:
            with self.db.writing() as conn:
                locked = list(conn.execute(old_events).scalars())
                if not locked:
                    return
                event_ids = list(
                    conn.execute(sa.select(events.c.id).where(events.c.id.in_(locked), prunable)).scalars()
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
                audit.write(conn, removed=dict(removed))
            report("events", len(event_ids))

    def _prune_rows(
        self,
        name: str,
        table: sa.Table,
        old: Any,
        still: Any,
        removed: dict[str, int],
        report: Callable[[str, int], None],
        audit: Audit,
    ) -> None:
        """Rows of one table, a batch per transaction, each checked again once locked."""
        while True:
            with self.db.writing() as conn:
                ids = list(conn.execute(old).scalars())
                if ids:
                    removed[name] += conn.execute(table.delete().where(table.c.id.in_(ids), still)).rowcount
                    audit.write(conn, removed=dict(removed))
            if not ids:
                return
            report(name, len(ids))

    def _prune_voices(
        self,
        before: datetime,
        batch: int,
        removed: dict[str, int],
        report: Callable[[str, int], None],
        audit: Audit,
    ) -> None:
        """A voice's row once its last activity is older and none of its events is left."""
        old_voices = (
            sa.select(voices.c.provider, voices.c.voice_id)
            .where(voices.c.last_event_at < before, ~_events_of_voice())
            .limit(batch)
        )
        while True:
            with self.db.writing() as conn:
                keys = [tuple(row) for row in conn.execute(old_voices)]
                if keys:
                    key = sa.tuple_(voices.c.provider, voices.c.voice_id)
                    removed["voices"] += conn.execute(voices.delete().where(key.in_(keys))).rowcount
                    audit.write(conn, removed=dict(removed))
            if not keys:
                return
            report("voices", len(keys))

    def prune_counts(self, *, before: datetime, also: Sequence[PrunableRows] = ()) -> dict[str, int]:
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
            "voices": sa.select(sa.func.count())
            .select_from(voices)
            .where(voices.c.last_event_at < before, ~_events_of_voice(~prunable)),
            **{
                rows.name: sa.select(sa.func.count()).select_from(rows.table).where(rows.old(before))
                for rows in also
            },
        }
        with self.db.reading() as conn:
            return {name: int(conn.execute(query).scalar_one()) for name, query in counts.items()}


def _events_of_voice(*conditions: sa.ColumnElement[bool]) -> sa.Exists:
    """Whether any event of the voices row in the enclosing query exists (and meets `conditions`)."""
    return sa.exists().where(
        events.c.voice_id == voices.c.voice_id, events.c.provider == voices.c.provider, *conditions
    )
