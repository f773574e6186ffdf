"""Recording what arrived: receipts, their events and deliveries, under one dedupe policy.

A callback's receipt takes its `dedupe_key` in a unique index, so between concurrent
identical callbacks the database decides: exactly one records events, the others answer
as duplicates of it. A key older than the window no longer counts and is released.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from webhook_app.model.events import Event
from webhook_app.model.receipts import IngestResult, NewReceipt
from webhook_app.model.states import ReceiptStatus
from webhook_app.store.audit import Audit
from webhook_app.store.database import Database
from webhook_app.store.fast_path import FastPath
from webhook_app.store.records import PlannedDelivery, delivery_row, event_row, receipt_row
from webhook_app.store.tables import deliveries, events, receipts
from webhook_app.store.work_signal import notify_work


class ReceiptNotRejected(LookupError):
    """The receipt was accepted already (reprocessed meanwhile): `event_ids` are its events."""

    def __init__(self, receipt_id: str, event_ids: list[str]) -> None:
        super().__init__(f"Receipt {receipt_id} is not rejected (any more).")
        self.receipt_id = receipt_id
        self.event_ids = event_ids


class IngestStore:
    """Receipts, events and their deliveries, recorded together under one dedupe policy."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._fast_path = FastPath(db.engine, db.writers.turn)
        # Built once: constructing statements per request cost more than running them.
        self._insert_receipt = receipts.insert()
        self._insert_keyed_receipt = (
            (postgresql if db.engine.dialect.name == "postgresql" else sqlite)
            .insert(receipts)
            .on_conflict_do_nothing()
            .returning(receipts.c.id)
        )

    def close(self) -> None:
        self._fast_path.dispose()

    def record_callback(
        self,
        receipt: NewReceipt,
        new_events: Sequence[Event],
        planned: Sequence[PlannedDelivery],
        *,
        dedupe_key: str | None,
        dedupe_window: timedelta,
    ) -> IngestResult:
        """Keep the receipt, its events and their deliveries in one transaction.

        An identical callback (same `dedupe_key`) seen within `dedupe_window` records
        nothing and returns the original ids. The unique index on `dedupe_key` decides
        between concurrent identical requests, so exactly one of them records events.
        """
        if dedupe_key is not None:
            row = receipt_row(receipt, status=ReceiptStatus.ACCEPTED.value, reason=None) | {
                "dedupe_key": dedupe_key
            }
            event_rows = [event_row(e) for e in new_events]
            delivery_rows = [delivery_row(p, receipt.received_at) for p in planned]
            if self._fast_path.record(row, event_rows, delivery_rows):
                return IngestResult(receipt.id, [e.id for e in new_events], duplicate=False)
        with self.db.writing() as conn:  # the key is taken (a duplicate or a stale copy), or there is none
            return self.record_in(conn, receipt, new_events, planned, dedupe_key, dedupe_window)

    def record_together(
        self,
        receipt: NewReceipt | None,
        new_events: Sequence[Event],
        planned: Sequence[PlannedDelivery],
        *,
        dedupe_key: str | None,
        dedupe_window: timedelta,
        now: datetime,
        together_with: Callable[[sa.Connection], bool],
    ) -> IngestResult | None:
        """Record with the caller's own write in ONE transaction (a polled operation's row moves
        with the events its change raised); None, with nothing kept, when `together_with` says
        False. Without a receipt the events are the service's own (an ops event)."""
        try:
            with self.db.writing() as conn:
                if not together_with(conn):
                    raise _Declined
                if receipt is None:
                    insert_events(conn, new_events, planned, now)
                    return IngestResult("", [e.id for e in new_events], duplicate=False)
                return self.record_in(conn, receipt, new_events, planned, dedupe_key, dedupe_window)
        except _Declined:
            return None

    def record_in(
        self,
        conn: sa.Connection,
        receipt: NewReceipt,
        new_events: Sequence[Event],
        planned: Sequence[PlannedDelivery],
        dedupe_key: str | None,
        dedupe_window: timedelta,
    ) -> IngestResult:
        """Record within the caller's transaction."""
        row = receipt_row(receipt, status=ReceiptStatus.ACCEPTED.value, reason=None)
        if dedupe_key is None:
            conn.execute(self._insert_receipt, row)
        else:
            original = self._take_dedupe_key(conn, row, dedupe_key, receipt.received_at - dedupe_window)
            if original is not None:
                return IngestResult(original, event_ids_of(conn, original), duplicate=True)
        insert_events(conn, new_events, planned, receipt.received_at)
        return IngestResult(receipt.id, [e.id for e in new_events], duplicate=False)

    def _take_dedupe_key(
        self, conn: sa.Connection, row: dict[str, Any], key: str, fresh_after: datetime
    ) -> str | None:
        """Insert the receipt holding `key`; return the original receipt id if it is a duplicate."""
        for _ in range(3):
            inserted = conn.execute(self._insert_keyed_receipt, {**row, "dedupe_key": key}).first()
            if inserted is not None:
                return None
            original = _fresh_holder(conn, key, fresh_after)
            if original is not None:
                return original
        raise RuntimeError(f"could not settle dedupe key {key} after 3 tries")

    def accept_rejected(
        self,
        receipt_id: str,
        new_events: Sequence[Event],
        planned: Sequence[PlannedDelivery],
        *,
        dedupe_key: str | None,
        dedupe_window: timedelta,
        now: datetime,
        audit: Audit,
    ) -> IngestResult:
        """Turn a rejected receipt into an accepted one with its events, in one transaction
        (with its `audit` entry).

        If an identical callback was accepted meanwhile (the provider retried), nothing is
        recorded and the original's ids come back as a duplicate. `ReceiptNotRejected` when
        the receipt is no longer rejected (another reprocess won a race).
        """
        with self.db.writing() as conn:
            row = conn.execute(  # locked: a reprocess racing this one waits, then finds it accepted
                sa.select(receipts.c.status, receipts.c.received_at)
                .where(receipts.c.id == receipt_id)
                .with_for_update()
            ).first()
            if row is None:
                raise LookupError(f"No receipt with id {receipt_id}.")
            if row.status != ReceiptStatus.REJECTED.value:
                raise ReceiptNotRejected(receipt_id, event_ids_of(conn, receipt_id))
            if dedupe_key is not None:
                original = _fresh_holder(conn, dedupe_key, row.received_at - dedupe_window)
                if original is not None:
                    return IngestResult(original, event_ids_of(conn, original), duplicate=True)
            conn.execute(
                receipts.update()
                .where(receipts.c.id == receipt_id)
                .values(status=ReceiptStatus.ACCEPTED.value, reason=None, dedupe_key=dedupe_key)
            )
            insert_events(conn, new_events, planned, now)
            audit.write(conn, events=[e.id for e in new_events])
        return IngestResult(receipt_id, [e.id for e in new_events], duplicate=False)

    def event_ids_of_receipt(self, receipt_id: str) -> list[str]:
        with self.db.reading() as conn:
            return event_ids_of(conn, receipt_id)

    def record_rejected(self, receipt: NewReceipt, reason: dict[str, Any], *, keep: int) -> str:
        """Keep an authenticated request that failed validation, with why, for later reprocessing.

        Only the newest `keep` rejected receipts stay: a sender that knows the token must
        not be able to fill the disk with refusals. The oldest go in the same transaction.
        """
        rejected = receipts.c.status == ReceiptStatus.REJECTED.value
        with self.db.writing() as conn:
            conn.execute(
                receipts.insert().values(
                    receipt_row(receipt, status=ReceiptStatus.REJECTED.value, reason=reason)
                )
            )
            oldest_kept = conn.execute(
                sa.select(receipts.c.received_at, receipts.c.id)
                .where(rejected)
                .order_by(receipts.c.received_at.desc(), receipts.c.id.desc())
                .offset(keep - 1)
                .limit(1)
            ).first()
            if oldest_kept is not None:
                conn.execute(
                    receipts.delete().where(
                        rejected,
                        sa.or_(
                            receipts.c.received_at < oldest_kept.received_at,
                            sa.and_(
                                receipts.c.received_at == oldest_kept.received_at,
                                receipts.c.id < oldest_kept.id,
                            ),
                        ),
                    )
                )
        return receipt.id

    @staticmethod
    def _event_ids_of(conn: sa.Connection, receipt_id: str) -> list[str]:
        query = sa.select(events.c.id).where(events.c.receipt_id == receipt_id).order_by(events.c.seq)
        return list(conn.execute(query).scalars())


def _fresh_holder(conn: sa.Connection, key: str, fresh_after: datetime) -> str | None:
    """The receipt holding `key` if it arrived after `fresh_after` (the new one is its duplicate).
    A holder older than the window no longer counts as the same callback: its key is released."""
    holder = conn.execute(
        sa.select(receipts.c.id, receipts.c.received_at).where(receipts.c.dedupe_key == key)
    ).first()
    if holder is None:
        return None
    if holder.received_at > fresh_after:
        return str(holder.id)
    conn.execute(receipts.update().where(receipts.c.id == holder.id).values(dedupe_key=None))
    return None


_INSERT_EVENTS = events.insert()  # built once: building statements per request cost more than running them
_INSERT_DELIVERIES = deliveries.insert()


def insert_events(
    conn: sa.Connection, new_events: Sequence[Event], planned: Sequence[PlannedDelivery], now: datetime
) -> None:
    """Events and their planned deliveries, in the caller's transaction; wakes the workers at commit."""
    if new_events:
        conn.execute(_INSERT_EVENTS, [event_row(e) for e in new_events])
    if planned:
        conn.execute(_INSERT_DELIVERIES, [delivery_row(p, now) for p in planned])
        notify_work(conn)


def event_ids_of(conn: sa.Connection, receipt_id: str) -> list[str]:
    query = sa.select(events.c.id).where(events.c.receipt_id == receipt_id).order_by(events.c.seq)
    return list(conn.execute(query).scalars())


class _Declined(Exception):
    """The caller's own write found nothing to do: roll the transaction back."""
