"""Read models: the event log, an event's deliveries, a voice's timeline, receipts, counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

import webhook_app.store.resolution as resolution
from webhook_app.model.states import DeliveryStatus, ReceiptStatus, values
from webhook_app.store.cursors import decode_cursor, decode_row_cursor, encode_cursor, encode_row_cursor
from webhook_app.store.database import Database
from webhook_app.store.ingest import event_ids_of
from webhook_app.store.records import DeliveryFilters, EventFilters, ReceiptFilters
from webhook_app.store.summaries import as_listed, summary_columns, within_page_bytes
from webhook_app.store.tables import (
    DUE_STATUSES,
    attempts,
    deliveries,
    events,
    receipts,
    route_states,
)


@dataclass(frozen=True)
class BacklogSnapshot:
    """What `/metrics` reads at each scrape."""

    backlog: dict[str, int]
    """Deliveries waiting, by status (`pending`, `failed`)."""
    oldest_due_created_at: datetime | None
    routes: list[dict[str, Any]]
    """Each route's state row (`route_states`)."""
    waiting: dict[str, int]
    """Per route: deliveries due now and not taken (a paused route's backlog, a rate limit's queue)."""


class ReadModels:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list_events(
        self, filters: EventFilters, *, limit: int, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first, as summaries (`summaries.py`), at most `limit` and about `PAGE_BYTES`;
        `cursor` is the opaque position returned by the previous page.

        Filtered by time, the order is the events' time (then `seq`), so the index on
        (occurred_at, seq) finds a page at once wherever the range lies; ordered by `seq`
        the database walked every newer event, or sorted every one in the range.
        """
        timed = filters.since is not None or filters.until is not None
        order = (events.c.occurred_at.desc(), events.c.seq.desc()) if timed else (events.c.seq.desc(),)
        query = (
            sa.select(events.c.seq, events.c.occurred_at, *summary_columns(self.db.engine.dialect.name))
            .order_by(*order)
            .limit(limit + 1)
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
        with self.db.reading() as conn:
            rows = self.db.read_all(conn, query)
        listed = [as_listed(row) for row in rows]
        fits = min(limit, within_page_bytes(listed))
        page = rows[:fits]
        next_cursor = None
        if len(rows) > fits:
            next_cursor = encode_cursor(page[-1].seq, page[-1].occurred_at if timed else None)
        return listed[:fits], next_cursor

    def get_event(self, event_id: str) -> dict[str, Any] | None:
        with self.db.reading() as conn:
            return conn.execute(sa.select(events.c.document).where(events.c.id == event_id)).scalar()

    def deliveries_of(self, event_id: str) -> list[dict[str, Any]]:
        """The event's deliveries, oldest first, each with its attempts in order."""
        with self.db.reading() as conn:
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
                    "status_code": a.status_code,
                    "duration_ms": a.duration_ms,
                    "response": a.response,
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

    def dead_deliveries(self, *, resolved: bool = False, limit: int) -> list[dict[str, Any]]:
        """Dead deliveries that still need attention (or, with `resolved`, those a later success
        fixed, each with `resolved_by`), most recently changed first, with their event's type and voice."""
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
                resolution.resolved_by().label("resolved_by"),
            )
            .join(events, events.c.id == deliveries.c.event_id)
            .where(deliveries.c.status == DeliveryStatus.DEAD.value)
            .where(resolution.resolved() if resolved else ~resolution.resolved())
            .order_by(deliveries.c.updated_at.desc())
            .limit(limit)
        )
        with self.db.reading() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def voice_timeline(
        self,
        provider: str,
        voice_id: str,
        *,
        limit: int,
        cursor: str | None = None,
        newest_first: bool = False,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of one voice's events as summaries, oldest first (or newest first), and the
        cursor of the next page."""
        order = events.c.seq.desc() if newest_first else events.c.seq
        query = (
            sa.select(events.c.seq, *summary_columns(self.db.engine.dialect.name))
            .where(events.c.voice_id == voice_id, events.c.provider == provider)
            .order_by(order)
            .limit(limit + 1)
        )
        if cursor is not None:
            seq = decode_cursor(cursor).seq
            query = query.where(events.c.seq < seq if newest_first else events.c.seq > seq)
        with self.db.reading() as conn:
            rows = self.db.read_all(conn, query)
        listed = [as_listed(row) for row in rows]
        fits = min(limit, within_page_bytes(listed))
        next_cursor = encode_cursor(rows[fits - 1].seq) if len(rows) > fits else None
        return listed[:fits], next_cursor

    def get_receipt(self, receipt_id: str) -> dict[str, Any] | None:
        with self.db.reading() as conn:
            row = conn.execute(sa.select(receipts).where(receipts.c.id == receipt_id)).first()
            if row is None:
                return None
            event_ids = event_ids_of(conn, receipt_id)
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

    def delivery_status_counts(self) -> dict[str, int]:
        with self.db.reading() as conn:
            rows = conn.execute(
                sa.select(deliveries.c.status, sa.func.count()).group_by(deliveries.c.status)
            ).all()
        return {status: count for status, count in rows}

    def backlog_snapshot(self, now: datetime) -> BacklogSnapshot:
        due = deliveries.c.status.in_(DUE_STATUSES)
        waiting = due & (deliveries.c.next_attempt_at <= now) & deliveries.c.locked_by.is_(None)
        with self.db.reading() as conn:
            routes = [dict(row) for row in conn.execute(sa.select(route_states)).mappings()]
            waits = conn.execute(
                sa.select(deliveries.c.route, sa.func.count()).where(waiting).group_by(deliveries.c.route)
            ).all()
            backlog = conn.execute(
                sa.select(deliveries.c.status, sa.func.count()).where(due).group_by(deliveries.c.status)
            ).all()
            oldest = conn.execute(sa.select(sa.func.min(deliveries.c.created_at)).where(due)).scalar()
        return BacklogSnapshot(
            {status: count for status, count in backlog},
            oldest,
            routes,
            {route: count for route, count in waits},
        )

    def list_deliveries(
        self, filters: DeliveryFilters, *, limit: int, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first (by creation), with their event's type and voice; `cursor` from the last page."""
        d = deliveries.c
        query = (
            sa.select(
                d.id, d.event_id, events.c.type.label("event_type"), events.c.voice_id, d.route, d.status,
                d.attempts, d.next_attempt_at, d.last_error, d.created_at, d.updated_at,
                resolution.resolved_by().label("resolved_by"),
            )
            .join(events, events.c.id == d.event_id)
        )  # fmt: skip
        if filters.resolved is not None:
            query = query.where(resolution.resolved() if filters.resolved else ~resolution.resolved())
        elif filters.status == DeliveryStatus.DEAD.value:
            query = query.where(~resolution.resolved())  # dead means "needs attention" unless asked
        equal = ((d.status, filters.status), (d.route, filters.route), (events.c.type, filters.event_type))
        page, next_cursor = self._newest_first(query, d.created_at, d.id, equal, filters, limit, cursor)
        for item in page:
            if item["status"] not in DUE_STATUSES:
                item["next_attempt_at"] = None
        return page, next_cursor

    def delivery_counts(self, event_ids: list[str]) -> dict[str, dict[str, int]]:
        """Per event: how many of its deliveries are in each status (every status, 0 when none)."""
        counts = {event_id: dict.fromkeys(values(DeliveryStatus), 0) for event_id in event_ids}
        if not event_ids:
            return counts
        query = (
            sa.select(deliveries.c.event_id, deliveries.c.status, sa.func.count())
            .where(deliveries.c.event_id.in_(event_ids))
            .group_by(deliveries.c.event_id, deliveries.c.status)
        )
        with self.db.reading() as conn:
            for event_id, status, count in conn.execute(query):
                counts[event_id][status] = count
        return counts

    def list_receipts(
        self, filters: ReceiptFilters, *, limit: int, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first: what arrived, whether it was accepted, and why not (`error`)."""
        r = receipts.c
        query = sa.select(r.id, r.provider, r.status.label("state"), r.received_at, r.reason.label("error"))
        equal = ((r.status, filters.state), (r.provider, filters.provider))
        return self._newest_first(query, r.received_at, r.id, equal, filters, limit, cursor)

    def _newest_first(
        self,
        query: sa.Select[Any],
        at: sa.ColumnElement[datetime],
        row_id: sa.ColumnElement[str],
        equal: Sequence[tuple[sa.ColumnElement[Any], str | None]],
        filters: DeliveryFilters | ReceiptFilters,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of `query` ordered by (`at`, `row_id`) newest first, filtered by the columns in
        `equal` and by `filters.since`/`until` on `at`, from `cursor`; with the next cursor."""
        for column, value in equal:
            if value is not None:
                query = query.where(column == value)
        if filters.since is not None:
            query = query.where(at >= filters.since)
        if filters.until is not None:
            query = query.where(at < filters.until)
        if cursor is not None:
            last_at, last_id = decode_row_cursor(cursor)
            query = query.where(sa.or_(at < last_at, sa.and_(at == last_at, row_id < last_id)))
        query = query.order_by(at.desc(), row_id.desc()).limit(limit + 1)
        with self.db.reading() as conn:
            rows = [dict(row) for row in conn.execute(query).mappings()]
        page = rows[:limit]
        if len(rows) <= limit:
            return page, None
        return page, encode_row_cursor(page[-1][at.key], page[-1][row_id.key])

    def count_unresolved_dead(self) -> int:
        """Dead deliveries no later success resolved (an index range: cheap for the few dead ones)."""
        query = sa.select(sa.func.count()).select_from(deliveries).where(resolution.unresolved_dead())
        with self.db.reading() as conn:
            return int(conn.execute(query).scalar_one())

    def count_rejected_since(self, since: datetime) -> int:
        """Receipts refused since `since` (their own partial index)."""
        query = (
            sa.select(sa.func.count())
            .select_from(receipts)
            .where(receipts.c.status == ReceiptStatus.REJECTED.value, receipts.c.received_at >= since)
        )
        with self.db.reading() as conn:
            return int(conn.execute(query).scalar_one())
