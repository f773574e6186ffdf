"""Every read and every state change of receipts, events and deliveries, one named function each.

Each write is one short transaction. Callers pass `now` (from the injectable clock), so
the store never reads the wall clock itself.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from webhook_app.config import Settings
from webhook_app.events import Event, new_id
from webhook_app.states import DeliveryStatus, OperationState, ReceiptStatus
from webhook_app.store.engine import IMMEDIATE, create_engine, writers_for
from webhook_app.store.fast_path import FastPath
from webhook_app.store.tables import DUE_STATUSES, attempts, azure_operations, deliveries, events, receipts
from webhook_app.wakeup import notify_work


@dataclass(frozen=True)
class NewReceipt:
    """What arrived, as kept: the raw body and the headers worth keeping (never secrets)."""

    provider: str
    received_at: datetime
    body: bytes
    headers: dict[str, str]
    content_type: str | None = None
    id: str = field(default_factory=lambda: new_id("rcpt"))


@dataclass(frozen=True)
class IngestResult:
    receipt_id: str
    event_ids: list[str]
    duplicate: bool


@dataclass(frozen=True)
class PlannedDelivery:
    event_id: str
    route: str
    replay_of: str | None = None


@dataclass(frozen=True)
class ClaimedDelivery:
    id: str
    event_id: str
    route: str
    attempts: int
    document: dict[str, Any]


@dataclass(frozen=True)
class EventFilters:
    type: str | None = None
    provider: str | None = None
    voice_id: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class Store:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._writers = writers_for(engine)
        self._fast_path = FastPath(engine, self._writers.turn)
        self.insert_ignoring_conflict = _insert_ignoring_conflict_for(engine.dialect.name)
        """An INSERT that skips a row whose unique key is taken (`ON CONFLICT DO NOTHING`)."""
        # Built once: constructing statements per request cost more than running them.
        self._insert_receipt = receipts.insert()
        self._insert_keyed_receipt = (
            (postgresql if engine.dialect.name == "postgresql" else sqlite)
            .insert(receipts)
            .on_conflict_do_nothing()
            .returning(receipts.c.id)
        )
        self._insert_events = events.insert()
        self._insert_deliveries = deliveries.insert()

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 5, sqlite_synchronous: str = "NORMAL") -> Store:
        """A store on `url`; each process holds up to `pool_size` connections, twice that at peaks."""
        engine = create_engine(
            url, pool_size=pool_size, max_overflow=pool_size, sqlite_synchronous=sqlite_synchronous
        )
        return cls(engine)

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        return cls.from_url(
            settings.database_url,
            pool_size=settings.db_pool_size,
            sqlite_synchronous=settings.sqlite_synchronous,
        )

    def dispose(self) -> None:
        self._writers.close()
        self._fast_path.dispose()
        self.engine.dispose()

    @contextmanager
    def _writing(self) -> Iterator[sa.Connection]:
        with self._writers.turn(), self.engine.connect() as conn:
            conn.execution_options(**{IMMEDIATE: True})
            with conn.begin():
                yield conn

    @contextmanager
    def _reading(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def writing(self) -> AbstractContextManager[sa.Connection]:
        """A write transaction, in turn with the other writers (for stores of other aggregates)."""
        return self._writing()

    def reading(self) -> AbstractContextManager[sa.Connection]:
        return self._reading()

    def ping(self) -> None:
        with self._reading() as conn:
            conn.execute(sa.text("SELECT 1"))

    # -- ingest ----------------------------------------------------------------

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
            row = _receipt_row(receipt, status=ReceiptStatus.ACCEPTED.value, reason=None) | {
                "dedupe_key": dedupe_key
            }
            event_rows = [_event_row(e) for e in new_events]
            delivery_rows = [_delivery_row(p, receipt.received_at) for p in planned]
            if self._fast_path.record(row, event_rows, delivery_rows):
                return IngestResult(receipt.id, [e.id for e in new_events], duplicate=False)
        with self._writing() as conn:  # the key is taken (a duplicate or a stale copy), or there is none
            return self.record_in(conn, receipt, new_events, planned, dedupe_key, dedupe_window)

    def record_in(
        self,
        conn: sa.Connection,
        receipt: NewReceipt,
        new_events: Sequence[Event],
        planned: Sequence[PlannedDelivery],
        dedupe_key: str | None,
        dedupe_window: timedelta,
    ) -> IngestResult:
        """Record within the caller's transaction (an Azure transition commits with its row's update)."""
        row = _receipt_row(receipt, status=ReceiptStatus.ACCEPTED.value, reason=None)
        if dedupe_key is None:
            conn.execute(self._insert_receipt, row)
        else:
            original = self._take_dedupe_key(conn, row, dedupe_key, receipt.received_at - dedupe_window)
            if original is not None:
                return IngestResult(original, self._event_ids_of(conn, original), duplicate=True)
        self._insert_events_and_deliveries(conn, new_events, planned, receipt.received_at)
        return IngestResult(receipt.id, [e.id for e in new_events], duplicate=False)

    def _insert_events_and_deliveries(
        self,
        conn: sa.Connection,
        new_events: Sequence[Event],
        planned: Sequence[PlannedDelivery],
        now: datetime,
    ) -> None:
        if new_events:
            conn.execute(self._insert_events, [_event_row(e) for e in new_events])
        if planned:
            conn.execute(self._insert_deliveries, [_delivery_row(p, now) for p in planned])
            notify_work(conn)

    def _take_dedupe_key(
        self, conn: sa.Connection, row: dict[str, Any], key: str, fresh_after: datetime
    ) -> str | None:
        """Insert the receipt holding `key`; return the original receipt id if it is a duplicate."""
        for _ in range(3):
            inserted = conn.execute(self._insert_keyed_receipt, {**row, "dedupe_key": key}).first()
            if inserted is not None:
                return None
            holder = conn.execute(
                sa.select(receipts.c.id, receipts.c.received_at).where(receipts.c.dedupe_key == key)
            ).first()
            if holder is None:
                continue
            if holder.received_at > fresh_after:
                return str(holder.id)
            # The earlier copy is older than the window: it no longer counts as the same callback.
            conn.execute(receipts.update().where(receipts.c.id == holder.id).values(dedupe_key=None))
        raise RuntimeError(f"could not settle dedupe key {key} after 3 tries")

    def accept_rejected(
        self,
        receipt_id: str,
        new_events: Sequence[Event],
        planned: Sequence[PlannedDelivery],
        *,
        dedupe_key: str,
        dedupe_window: timedelta,
        now: datetime,
    ) -> IngestResult:
        """Turn a rejected receipt into an accepted one with its events, in one transaction.

        If an identical callback was accepted meanwhile (the provider retried), nothing is
        recorded and the original's ids come back as a duplicate.
        """
        with self._writing() as conn:
            row = conn.execute(
                sa.select(receipts.c.status, receipts.c.received_at).where(receipts.c.id == receipt_id)
            ).first()
            if row is None or row.status != ReceiptStatus.REJECTED.value:
                raise LookupError(f"No rejected receipt with id {receipt_id}.")
            holder = conn.execute(
                sa.select(receipts.c.id, receipts.c.received_at).where(receipts.c.dedupe_key == dedupe_key)
            ).first()
            if holder is not None and holder.received_at > row.received_at - dedupe_window:
                return IngestResult(str(holder.id), self._event_ids_of(conn, holder.id), duplicate=True)
            if holder is not None:
                conn.execute(receipts.update().where(receipts.c.id == holder.id).values(dedupe_key=None))
            conn.execute(
                receipts.update()
                .where(receipts.c.id == receipt_id)
                .values(status=ReceiptStatus.ACCEPTED.value, reason=None, dedupe_key=dedupe_key)
            )
            self._insert_events_and_deliveries(conn, new_events, planned, now)
        return IngestResult(receipt_id, [e.id for e in new_events], duplicate=False)

    def record_rejected(self, receipt: NewReceipt, reason: dict[str, Any], *, keep: int) -> str:
        """Keep an authenticated request that failed validation, with why, for later reprocessing.

        Only the newest `keep` rejected receipts stay: a sender that knows the token must
        not be able to fill the disk with refusals. The oldest go in the same transaction.
        """
        rejected = receipts.c.status == ReceiptStatus.REJECTED.value
        with self._writing() as conn:
            conn.execute(
                receipts.insert().values(
                    _receipt_row(receipt, status=ReceiptStatus.REJECTED.value, reason=reason)
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

    # -- dispatch ----------------------------------------------------------------

    def claim_due_deliveries(
        self, *, worker: str, now: datetime, limit: int, lease: timedelta
    ) -> list[ClaimedDelivery]:
        """Lease up to `limit` due deliveries to `worker` until `now + lease`.

        PostgreSQL skips rows other workers hold (`FOR UPDATE SKIP LOCKED`); SQLite's single
        writer makes the same statement safe there. An expired lease is due again.
        """
        if limit <= 0:
            return []
        due = (
            sa.select(deliveries.c.id)
            .where(
                deliveries.c.status.in_(DUE_STATUSES),
                deliveries.c.next_attempt_at <= now,
                sa.or_(deliveries.c.locked_until.is_(None), deliveries.c.locked_until <= now),
            )
            .order_by(deliveries.c.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with self._writing() as conn:
            claimed = conn.execute(
                deliveries.update()
                .where(deliveries.c.id.in_(due.scalar_subquery()))
                .values(locked_by=worker, locked_until=now + lease, updated_at=now)
                .returning(deliveries.c.id, deliveries.c.event_id, deliveries.c.route, deliveries.c.attempts)
            ).all()
            if not claimed:
                return []
            documents = dict(
                conn.execute(
                    sa.select(events.c.id, events.c.document).where(
                        events.c.id.in_({c.event_id for c in claimed})
                    )
                ).all()
            )
        return [
            ClaimedDelivery(c.id, c.event_id, c.route, c.attempts, documents[c.event_id]) for c in claimed
        ]

    def extend_delivery_leases(self, ids: Sequence[str], *, worker: str, until: datetime) -> set[str]:
        """Hold deliveries still in flight until `until`; returns the ids `worker` still held.

        A lease another worker has taken over is left alone (and left out of the answer).
        """
        if not ids:
            return set()
        with self._writing() as conn:
            held = conn.execute(
                deliveries.update()
                .where(deliveries.c.id.in_(ids), deliveries.c.locked_by == worker)
                .values(locked_until=until)
                .returning(deliveries.c.id)
            ).scalars()
            return set(held)

    def next_delivery_due_at(self, after: datetime) -> datetime | None:
        """When the earliest scheduled retry falls due, so an idle worker can sleep until then."""
        query = sa.select(sa.func.min(deliveries.c.next_attempt_at)).where(
            deliveries.c.status.in_(DUE_STATUSES), deliveries.c.next_attempt_at > after
        )
        with self._reading() as conn:
            return conn.execute(query).scalar()

    def mark_delivery_succeeded(
        self, claim: ClaimedDelivery, *, worker: str, started_at: datetime, finished_at: datetime
    ) -> bool:
        return self._finish_attempt(
            claim,
            worker,
            started_at,
            finished_at,
            "succeeded",
            status=DeliveryStatus.SUCCEEDED.value,
            error=None,
            next_attempt_at=None,
        )

    def schedule_delivery_retry(
        self,
        claim: ClaimedDelivery,
        *,
        worker: str,
        started_at: datetime,
        finished_at: datetime,
        error: str,
        next_attempt_at: datetime,
    ) -> bool:
        return self._finish_attempt(
            claim,
            worker,
            started_at,
            finished_at,
            "failed",
            status=DeliveryStatus.FAILED.value,
            error=error,
            next_attempt_at=next_attempt_at,
        )

    def mark_delivery_dead(
        self, claim: ClaimedDelivery, *, worker: str, started_at: datetime, finished_at: datetime, error: str
    ) -> bool:
        return self._finish_attempt(
            claim,
            worker,
            started_at,
            finished_at,
            "dead",
            status=DeliveryStatus.DEAD.value,
            error=error,
            next_attempt_at=None,
        )

    def _finish_attempt(
        self,
        claim: ClaimedDelivery,
        worker: str,
        started_at: datetime,
        finished_at: datetime,
        outcome: str,
        *,
        status: str,
        error: str | None,
        next_attempt_at: datetime | None,
    ) -> bool:
        """Record the attempt and move the delivery on, if this worker still holds its lease.

        Returns False when the lease was lost (another worker took the delivery over); the
        attempt is kept in the history either way, because it did happen.
        """
        with self._writing() as conn:
            conn.execute(
                attempts.insert().values(
                    delivery_id=claim.id,
                    number=claim.attempts + 1,
                    started_at=started_at,
                    finished_at=finished_at,
                    outcome=outcome,
                    error=error,
                    worker=worker,
                )
            )
            values: dict[str, Any] = {
                "status": status,
                "attempts": deliveries.c.attempts + 1,
                "locked_by": None,
                "locked_until": None,
                "last_error": error,
                "updated_at": finished_at,
            }
            if next_attempt_at is not None:
                values["next_attempt_at"] = next_attempt_at
            result = conn.execute(
                deliveries.update()
                .where(deliveries.c.id == claim.id, deliveries.c.locked_by == worker)
                .values(values)
            )
        return bool(result.rowcount)

    # -- replay ------------------------------------------------------------------

    def add_deliveries(self, planned: Sequence[PlannedDelivery], *, now: datetime) -> list[str]:
        """New pending deliveries (replays); earlier deliveries and their attempts stay as they were."""
        rows = [_delivery_row(p, now) for p in planned]
        if rows:
            with self._writing() as conn:
                conn.execute(deliveries.insert(), rows)
                notify_work(conn)
        return [str(row["id"]) for row in rows]

    def deliveries_to_retry(
        self, *, status: str, route: str | None = None, since: datetime | None = None
    ) -> list[PlannedDelivery]:
        """Deliveries in `status` that no replay has taken up yet, as replays to plan, oldest first."""
        replay = deliveries.alias("replay")
        query = (
            sa.select(deliveries.c.id, deliveries.c.event_id, deliveries.c.route)
            .where(
                deliveries.c.status == status,
                ~sa.exists().where(replay.c.replay_of == deliveries.c.id),
            )
            .order_by(deliveries.c.created_at, deliveries.c.id)
        )
        if route is not None:
            query = query.where(deliveries.c.route == route)
        if since is not None:
            query = query.where(deliveries.c.updated_at >= since)
        with self._reading() as conn:
            rows = conn.execute(query).all()
        return [PlannedDelivery(event_id=r.event_id, route=r.route, replay_of=r.id) for r in rows]

    # -- queries -----------------------------------------------------------------

    def list_events(
        self, filters: EventFilters, *, limit: int, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first; `cursor` is the opaque position returned by the previous page.

        Filtered by time, the order is the events' time (then `seq`), so the index on
        (occurred_at, seq) finds a page at once wherever the range lies; ordered by `seq`
        the database walked every newer event, or sorted every one in the range.
        """
        timed = filters.since is not None or filters.until is not None
        order = (events.c.occurred_at.desc(), events.c.seq.desc()) if timed else (events.c.seq.desc(),)
        query = (
            sa.select(events.c.seq, events.c.occurred_at, events.c.document).order_by(*order).limit(limit + 1)
        )
        for column, value in (
            (events.c.type, filters.type),
            (events.c.provider, filters.provider),
            (events.c.voice_id, filters.voice_id),
            (events.c.status, filters.status),
        ):
            if value is not None:
                query = query.where(column == value)
        if filters.since is not None:
            query = query.where(events.c.occurred_at >= filters.since)
        if filters.until is not None:
            query = query.where(events.c.occurred_at < filters.until)
        if cursor is not None:
            position = decode_cursor(cursor, timed=timed)
            if position.at is not None:
                query = query.where(events.c.occurred_at <= position.at).where(
                    sa.or_(
                        events.c.occurred_at < position.at,
                        sa.and_(events.c.occurred_at == position.at, events.c.seq < position.seq),
                    )
                )
            else:
                query = query.where(events.c.seq < position.seq)
        with self._reading() as conn:
            rows = conn.execute(query).all()
        page = rows[:limit]
        next_cursor = None
        if len(rows) > limit:
            next_cursor = encode_cursor(page[-1].seq, page[-1].occurred_at if timed else None)
        return [row.document for row in page], next_cursor

    def get_event(self, event_id: str) -> dict[str, Any] | None:
        with self._reading() as conn:
            return conn.execute(sa.select(events.c.document).where(events.c.id == event_id)).scalar()

    def deliveries_of(self, event_id: str) -> list[dict[str, Any]]:
        """The event's deliveries, oldest first, each with its attempts in order."""
        with self._reading() as conn:
            rows = conn.execute(
                sa.select(deliveries)
                .where(deliveries.c.event_id == event_id)
                .order_by(deliveries.c.created_at, deliveries.c.id)
            ).all()
            history = conn.execute(
                sa.select(attempts)
                .where(attempts.c.delivery_id.in_([r.id for r in rows]))
                .order_by(attempts.c.id)
            ).all()
        by_delivery: dict[str, list[dict[str, Any]]] = {r.id: [] for r in rows}
        for a in history:
            by_delivery[a.delivery_id].append(
                {
                    "number": a.number,
                    "started_at": a.started_at,
                    "finished_at": a.finished_at,
                    "outcome": a.outcome,
                    "error": a.error,
                }
            )
        return [
            {
                "id": r.id,
                "route": r.route,
                "status": r.status,
                "replay_of": r.replay_of,
                "next_attempt_at": r.next_attempt_at if r.status in DUE_STATUSES else None,
                "last_error": r.last_error,
                "attempts": by_delivery[r.id],
            }
            for r in rows
        ]

    def deliveries_in(self, status: str, *, limit: int) -> list[dict[str, Any]]:
        """Deliveries in `status`, most recently changed first, with their event's type and voice."""
        query = (
            sa.select(
                deliveries.c.id,
                deliveries.c.route,
                deliveries.c.event_id,
                deliveries.c.attempts,
                deliveries.c.last_error,
                deliveries.c.updated_at,
                events.c.type,
                events.c.provider,
                events.c.voice_id,
            )
            .join(events, events.c.id == deliveries.c.event_id)
            .where(deliveries.c.status == status)
            .order_by(deliveries.c.updated_at.desc())
            .limit(limit)
        )
        with self._reading() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def voice_timeline(self, provider: str, voice_id: str) -> list[dict[str, Any]]:
        """Every event of one voice, oldest first."""
        query = (
            sa.select(events.c.document)
            .where(events.c.voice_id == voice_id, events.c.provider == provider)
            .order_by(events.c.seq)
        )
        with self._reading() as conn:
            return list(conn.execute(query).scalars())

    def get_receipt(self, receipt_id: str) -> dict[str, Any] | None:
        with self._reading() as conn:
            row = conn.execute(sa.select(receipts).where(receipts.c.id == receipt_id)).first()
            if row is None:
                return None
            event_ids = self._event_ids_of(conn, receipt_id)
        return {
            "id": row.id,
            "provider": row.provider,
            "received_at": row.received_at,
            "status": row.status,
            "reason": row.reason,
            "content_type": row.content_type,
            "headers": row.headers,
            "body": row.body,
            "event_ids": event_ids,
        }

    # -- retention -----------------------------------------------------------------

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
        tracked Azure operations once they stopped. Returns how many of each were removed.
        """
        removed = {"events": 0, "deliveries": 0, "attempts": 0, "receipts": 0, "azure_operations": 0}
        unfinished = sa.exists().where(
            deliveries.c.event_id == events.c.id, deliveries.c.status.in_(DUE_STATUSES)
        )
        old_events = sa.select(events.c.id).where(events.c.occurred_at < before, ~unfinished).limit(batch)
        referenced = sa.exists().where(events.c.receipt_id == receipts.c.id)
        old_receipts = (
            sa.select(receipts.c.id).where(receipts.c.received_at < before, ~referenced).limit(batch)
        )
        old_operations = (
            sa.select(azure_operations.c.id)
            .where(
                azure_operations.c.state != OperationState.ACTIVE.value,
                azure_operations.c.updated_at < before,
            )
            .limit(batch)
        )
        while True:
            with self._writing() as conn:
                event_ids = list(conn.execute(old_events).scalars())
                if not event_ids:
                    break
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
        for name, table, query in (
            ("receipts", receipts, old_receipts),
            ("azure_operations", azure_operations, old_operations),
        ):
            while True:
                with self._writing() as conn:
                    ids = list(conn.execute(query).scalars())
                    if ids:
                        removed[name] += conn.execute(table.delete().where(table.c.id.in_(ids))).rowcount
                if not ids:
                    break
                if progress:
                    progress(name, len(ids))
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
        }
        with self._reading() as conn:
            return {name: int(conn.execute(query).scalar_one()) for name, query in counts.items()}

    def delivery_status_counts(self) -> dict[str, int]:
        with self._reading() as conn:
            rows = conn.execute(
                sa.select(deliveries.c.status, sa.func.count()).group_by(deliveries.c.status)
            ).all()
        return {status: count for status, count in rows}


MAX_SEQ = 2**63


@dataclass(frozen=True)
class CursorPosition:
    """Where a page ended: the last event's `seq`, and its time when the listing is by time."""

    seq: int
    at: datetime | None = None


def encode_cursor(seq: int, at: datetime | None = None) -> str:
    text = f"v1:{seq}" if at is None else f"v2:{seq}:{at.isoformat()}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, timed: bool = False) -> CursorPosition:
    """The position in a cursor; ValueError for anything this service did not hand out.

    A listing filtered by time is ordered by time (v2 cursors), any other by `seq` (v1).
    """
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, _, rest = text.partition(":")
        seq, _, at = rest.partition(":")
        position = int(seq)
        if (
            version != ("v2" if timed else "v1") or not 0 < position < MAX_SEQ
        ):  # beyond a BIGINT, no query could
            raise ValueError
        moment = datetime.fromisoformat(at) if timed else None
        if moment is not None and moment.tzinfo is None:
            raise ValueError
        return CursorPosition(position, moment)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("cursor is not one this service returned") from None


def _insert_ignoring_conflict_for(dialect: str) -> Any:
    module: Any = postgresql if dialect == "postgresql" else sqlite

    def build(table: sa.Table, values: dict[str, Any]) -> Any:
        return module.insert(table).values(values).on_conflict_do_nothing()

    return build


CONTENT_TYPE_CHARS = 200  # the column's size; a longer header is kept cut (the body is what matters)


def _receipt_row(receipt: NewReceipt, *, status: str, reason: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": receipt.id,
        "provider": receipt.provider,
        "received_at": receipt.received_at,
        "status": status,
        "reason": reason,
        "content_type": receipt.content_type[:CONTENT_TYPE_CHARS] if receipt.content_type else None,
        "headers": receipt.headers,
        "body": receipt.body,
        "dedupe_key": None,
    }


def _event_row(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "receipt_id": event.receipt_id,
        "provider": event.data.provider,
        "type": str(event.type),
        "voice_id": event.data.voice_id,
        "status": event.data.status,
        "occurred_at": event.time,
        "document": event.to_cloudevent(),
    }


def _delivery_row(planned: PlannedDelivery, now: datetime) -> dict[str, Any]:
    return {
        "id": new_id("dlv"),
        "event_id": planned.event_id,
        "route": planned.route,
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
        "replay_of": planned.replay_of,
    }
