"""What the dashboard shows and `GET /api/stats` answers: events and delivery outcomes over time,
route latency, what each provider adds (`Provider.stats`), and what needs attention now.

Counts come from the hourly rollups (store/rollups.py), summed into the window's buckets, so
the answer costs the same at a thousand events or a million.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from webhook_app.model.states import RouteState
from webhook_app.plugins.provider import Provider
from webhook_app.store import Store
from webhook_app.store.rollups import percentile_ms

WINDOWS = {
    "24h": (timedelta(hours=24), 3600),
    "7d": (timedelta(days=7), 6 * 3600),
    "30d": (timedelta(days=30), 86400),
}
"""Window → (its length, its bucket in seconds): 24 hourly, 28 six-hourly or 30 daily buckets."""


def bucket_of(moment: datetime, seconds: int) -> datetime:
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def stats(store: Store, window: str, *, now: datetime, providers: Sequence[type[Provider]]) -> dict[str, Any]:
    """`GET /api/stats`: the series over the window, what the providers add, what needs attention."""
    drawn = series(store, window, now=now)
    return {
        **drawn,
        **{key: value for provider in providers for key, value in provider.stats(store).items()},
        "attention": attention(store, since=drawn["since"], providers=providers),
    }


def series(store: Store, window: str, *, now: datetime) -> dict[str, Any]:
    """Events per type and attempts per route in each bucket of the window, and each route's
    p50/p99: what the charts and sparklines draw."""
    length, seconds = WINDOWS[window]
    since = bucket_of(now - length, seconds) + timedelta(seconds=seconds)
    hourly_events, hourly_attempts = store.rollups.counts_since(
        since.replace(minute=0, second=0, microsecond=0)
    )
    event_sums: dict[tuple[datetime, str], int] = defaultdict(int)
    for row in hourly_events:
        event_sums[(bucket_of(row["bucket_start"], seconds), row["type"])] += row["count"]
    outcome_sums: dict[tuple[datetime, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
    histograms: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in hourly_attempts:
        sums = outcome_sums[(bucket_of(row["bucket_start"], seconds), row["route"])]
        for outcome in OUTCOMES:
            sums[outcome] += row[outcome]
        for bound, count in row["durations"].items():
            histograms[row["route"]][bound] += count
    return {
        "window": window,
        "bucket_seconds": seconds,
        "since": since,
        "events": [
            {"bucket_start": start, "type": kind, "count": count}
            for (start, kind), count in sorted(event_sums.items())
        ],
        "deliveries": [
            {"bucket_start": start, "route": route, **sums}
            for (start, route), sums in sorted(outcome_sums.items())
        ],
        "routes": [
            {"route": route, "p50_ms": percentile_ms(h, 0.5), "p99_ms": percentile_ms(h, 0.99)}
            for route, h in sorted(histograms.items())
        ],
    }


OUTCOMES = ("succeeded", "failed", "dead")


def attention(store: Store, *, since: datetime, providers: Sequence[type[Provider]]) -> dict[str, Any]:
    """What a person should look at now: dead deliveries, paused routes, receipts refused in the
    window, and what the providers add (`Provider.attention`)."""
    return {
        "dead_deliveries": store.reads.count_unresolved_dead(),
        "paused_routes": sorted(
            name
            for name, state in store.route_health.route_states().items()
            if state["state"] == RouteState.PAUSED
        ),
        "rejected_receipts": store.reads.count_rejected_since(since),
        **{key: value for provider in providers for key, value in provider.attention(store).items()},
    }
