"""Rollups: the event log and the attempts summed into what the dashboard and the voices list read.

`voices` (one row per voice: its latest event and status), `event_counts` (events per type
per hour) and `attempt_counts` (attempts per route per hour, with a histogram of their
durations) are kept up to date by the worker's rollup job, which reads new rows in the
order of their key from where it stopped. A row becomes part of a rollup once it is
`SETTLE` old: a transaction that took a smaller key commits well within that, so none is
passed over. One worker at a time rolls up (the position's row is locked, others skip).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from webhook_app.model.events import OPS_PROVIDER
from webhook_app.store.database import Database
from webhook_app.store.tables import attempt_counts, attempts, event_counts, events, rollup_positions, voices

SETTLE = timedelta(seconds=5)
BATCH = 2000

_CHANGED = (
    "status",
    "last_event_type",
    "last_event_at",
    "last_seq",
    "name",
    "kind",
    "test",
    "events",
    "first_seen_at",
)
_UPDATE_VOICE = (
    voices.update()
    .where(
        voices.c.provider == sa.bindparam("new_provider"), voices.c.voice_id == sa.bindparam("new_voice_id")
    )
    .values({name: sa.bindparam(f"new_{name}") for name in _CHANGED})
)
"""A voice's row brought up to date: run once for every voice of a batch that was known."""
DURATION_BOUNDS_MS = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)
"""Upper bounds of the duration histogram; slower attempts count under `inf`."""


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def duration_bucket(ms: int | None) -> str:
    if ms is None:
        return "inf"
    return next((str(bound) for bound in DURATION_BOUNDS_MS if ms <= bound), "inf")


class RollupStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def roll_up(self, *, now: datetime, batch: int = BATCH) -> int:
        """Add the settled events and attempts not rolled up yet; how many rows were added."""
        settled = now - SETTLE
        with self.db.writing() as conn:
            positions = self._positions(conn)
            if positions is None:
                return 0  # another worker is rolling up
            done = self._events(conn, positions["events"], settled, batch)
            done += self._attempts(conn, positions["attempts"], settled, batch)
        return done

    def _positions(self, conn: sa.Connection) -> dict[str, int] | None:
        for name in ("events", "attempts"):
            conn.execute(self.db.insert_ignoring_conflict(rollup_positions, {"name": name, "last_id": 0}))
        rows = conn.execute(
            sa.select(rollup_positions.c.name, rollup_positions.c.last_id).with_for_update(skip_locked=True)
        ).all()
        return {name: last for name, last in rows} if len(rows) == 2 else None

    def _advance(self, conn: sa.Connection, name: str, last_id: int) -> None:
        conn.execute(rollup_positions.update().where(rollup_positions.c.name == name).values(last_id=last_id))

    def _events(self, conn: sa.Connection, after: int, settled: datetime, batch: int) -> int:
        rows = conn.execute(
            sa.select(events.c.seq, events.c.provider, events.c.type, events.c.voice_id, events.c.status,
                      events.c.occurred_at, *_voice_facts(conn.dialect.name))
            .where(events.c.seq > after)
            .order_by(events.c.seq)
            .limit(batch)
        ).all()  # fmt: skip
        rows = _settled_prefix(rows, lambda row: row.occurred_at, settled)
        if not rows:
            return 0
        counts: dict[tuple[datetime, str], int] = defaultdict(int)
        for row in rows:
            counts[(hour_of(row.occurred_at), row.type)] += 1
        _add_counts(
            conn, event_counts, ("bucket_start", "type"), {key: {"count": n} for key, n in counts.items()}
        )
        self._roll_voices(conn, [row for row in rows if row.provider != OPS_PROVIDER])
        self._advance(conn, "events", rows[-1].seq)
        return len(rows)

    def _roll_voices(self, conn: sa.Connection, rows: Sequence[Any]) -> None:
        latest: dict[tuple[str, str], Any] = {}
        first: dict[tuple[str, str], datetime] = {}
        seen: dict[tuple[str, str], int] = defaultdict(int)
        for row in rows:
            key = (row.provider, row.voice_id)
            latest[key] = row
            first[key] = min(first.get(key, row.occurred_at), row.occurred_at)
            seen[key] += 1
        if not latest:
            return
        key_columns = sa.tuple_(voices.c.provider, voices.c.voice_id)
        known = {
            (row.provider, row.voice_id): row
            for row in conn.execute(sa.select(voices).where(key_columns.in_(list(latest)))).all()
        }
        names = {(row.provider, row.voice_id): row.voice_name for row in rows if row.voice_name}
        kinds = {(row.provider, row.voice_id): row.resource_kind for row in rows if row.resource_kind}
        real = {(row.provider, row.voice_id) for row in rows if row.test not in (True, 1, "true")}
        added, changed = [], []
        for key, row in latest.items():
            values = {
                "provider": key[0],
                "voice_id": key[1],
                "status": row.status,
                "last_event_type": row.type,
                "last_event_at": row.occurred_at,
                "last_seq": row.seq,
            }
            if key in known:
                before = known[key]
                changed.append(
                    values
                    | {
                        "name": names.get(key, before.name),
                        "kind": kinds.get(key, before.kind),
                        "test": before.test and key not in real,  # a real event makes it real for good
                        "events": before.events + seen[key],
                        "first_seen_at": min(before.first_seen_at, first[key]),
                    }
                )
            else:
                added.append(
                    values
                    | {
                        "name": names.get(key),
                        "kind": kinds.get(key),
                        "test": key not in real,
                        "events": seen[key],
                        "first_seen_at": first[key],
                    }
                )
        # Many voices a batch: one statement each way, executed for every row (executemany).
        if added:
            conn.execute(voices.insert(), added)
        if changed:
            conn.execute(_UPDATE_VOICE, [{f"new_{k}": v for k, v in row.items()} for row in changed])

    def _attempts(self, conn: sa.Connection, after: int, settled: datetime, batch: int) -> int:
        rows = conn.execute(
            sa.select(attempts.c.id, attempts.c.route, attempts.c.outcome, attempts.c.finished_at,
                      attempts.c.duration_ms)
            .where(attempts.c.id > after)
            .order_by(attempts.c.id)
            .limit(batch)
        ).all()  # fmt: skip
        rows = _settled_prefix(rows, lambda row: row.finished_at, settled)
        if not rows:
            return 0
        sums: dict[tuple[datetime, str], dict[str, Any]] = {}
        for row in rows:
            key = (hour_of(row.finished_at), row.route or "")
            entry = sums.setdefault(key, {"succeeded": 0, "failed": 0, "dead": 0, "durations": {}})
            outcome = (
                row.outcome if row.outcome in ("succeeded", "dead") else "failed"
            )  # a failed probe failed
            entry[outcome] += 1
            bucket = duration_bucket(row.duration_ms)
            entry["durations"][bucket] = entry["durations"].get(bucket, 0) + 1
        _add_counts(conn, attempt_counts, ("bucket_start", "route"), sums)
        self._advance(conn, "attempts", rows[-1].id)
        return len(rows)

    def voice_list(
        self,
        *,
        provider: str | None,
        q: str | None,
        last_type: str | None,
        limit: int,
        cursor: int | None,
        tests: bool = False,
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Voices, most recent activity first (those only test events named, with `tests`);
        `cursor` is the last item's position (`last_seq`). `q` matches the id or the name."""
        query = sa.select(voices).order_by(voices.c.last_seq.desc()).limit(limit + 1)
        if not tests:
            query = query.where(voices.c.test == sa.false())
        if provider is not None:
            query = query.where(voices.c.provider == provider)
        if last_type is not None:
            query = query.where(voices.c.last_event_type == last_type)
        if q:
            escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(
                voices.c.voice_id.ilike(f"%{escaped}%", escape="\\")
                | voices.c.name.ilike(f"%{escaped}%", escape="\\")
            )
        if cursor is not None:
            query = query.where(voices.c.last_seq < cursor)
        with self.db.reading() as conn:
            rows = [dict(row) for row in conn.execute(query).mappings()]
        page = rows[:limit]
        return page, (page[-1]["last_seq"] if len(rows) > limit else None)

    def counts_since(self, since: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Hourly event counts by type and attempt counts by route, from `since` (an hour)."""
        with self.db.reading() as conn:
            kinds = (
                conn.execute(
                    sa.select(event_counts)
                    .where(event_counts.c.bucket_start >= since)
                    .order_by(event_counts.c.bucket_start)
                )
                .mappings()
                .all()
            )
            tries = (
                conn.execute(
                    sa.select(attempt_counts)
                    .where(attempt_counts.c.bucket_start >= since)
                    .order_by(attempt_counts.c.bucket_start)
                )
                .mappings()
                .all()
            )
        return [dict(row) for row in kinds], [dict(row) for row in tries]


def _settled_prefix(rows: Sequence[Any], moment: Any, settled: datetime) -> list[Any]:
    """The rows before the first one that is not settled yet (the rest wait for the next round)."""
    for index, row in enumerate(rows):
        if moment(row) > settled:
            return list(rows[:index])
    return list(rows)


def _add_counts(
    conn: sa.Connection,
    table: sa.Table,
    key_names: tuple[str, str],
    sums: dict[tuple[Any, str], dict[str, Any]],
) -> None:
    """Add `sums` to the rows of `table` with those keys (counts add; histograms add per bucket)."""
    key_columns = sa.tuple_(*(table.c[name] for name in key_names))
    existing = {
        (row[key_names[0]], row[key_names[1]]): row
        for row in conn.execute(sa.select(table).where(key_columns.in_(list(sums)))).mappings()
    }
    for key, added in sums.items():
        keys = dict(zip(key_names, key, strict=True))
        if key not in existing:
            conn.execute(table.insert().values(**keys, **added))
            continue
        merged = {}
        for name, value in added.items():
            if isinstance(value, dict):
                merged[name] = {
                    b: existing[key][name].get(b, 0) + value.get(b, 0) for b in {*existing[key][name], *value}
                }
            else:
                merged[name] = existing[key][name] + value
        conn.execute(
            table.update().where(*(table.c[name] == keys[name] for name in key_names)).values(**merged)
        )


def percentile_ms(histogram: dict[str, int], fraction: float) -> int | None:
    """The bucket bound under which `fraction` of the attempts finished (None without any)."""
    total = sum(histogram.values())
    if not total:
        return None
    needed, running = fraction * total, 0
    for bound in (*map(str, DURATION_BOUNDS_MS), "inf"):
        running += histogram.get(bound, 0)
        if running >= needed:
            return int(bound) if bound != "inf" else DURATION_BOUNDS_MS[-1]  # "30 s or more"
    return None


def _voice_facts(dialect: str) -> tuple[sa.ColumnElement[Any], ...]:
    """From an event's document: the voice's name, its resource kind, and whether it is a test."""
    if dialect == "postgresql":
        return (
            sa.literal_column("events.document -> 'data' ->> 'voice_name'", sa.Text).label("voice_name"),
            sa.literal_column("events.document -> 'data' ->> 'resource_kind'", sa.Text).label(
                "resource_kind"
            ),
            sa.literal_column("events.document ->> 'test'", sa.Text).label("test"),
        )
    return tuple(
        sa.func.json_extract(events.c.document, path).label(name)
        for name, path in (("voice_name", "$.data.voice_name"), ("resource_kind", "$.data.resource_kind"),
                           ("test", "$.test"))
    )  # fmt: skip
