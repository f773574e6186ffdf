"""How query and ingest costs grow with the event log: 10k, 100k, 1M stored events.

    python benchmarks/growth.py [--sizes 10000,100000,1000000] [--samples 50] [--postgres]

SQLite by default; `--postgres` uses a schema of its own on the local PostgreSQL.

At each size: `GET /api/events` p50/p99 unfiltered and with each filter, every web page,
`GET /api/stats` and `GET /api/voices` (once the worker's rollup job has caught up, which is
timed too), and the in-process ingest rate, against a floor measured in the same run
(`GET /healthz`, the same Flask stack without the database). Requests go through Flask's
test client, so the figures are the service's own cost, without HTTP or load-generator
noise. Writes results/growth.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import POSTGRES_URL, postgres_schema  # noqa: E402
from webhook_app import create_app
from webhook_app.config.settings import Settings
from webhook_app.model.routes import Route
from webhook_app.providers.resemble import callbacks as resemble
from webhook_app.providers.resemble.callbacks import ResembleProvider
from webhook_app.providers.resemble.samples import resemble_callback
from webhook_app.store import migrate
from webhook_app.store.tables import events

ADMIN = {"Authorization": "Bearer growth-admin"}
NOW = datetime.now(UTC)


def seed(store: Any, start: int, stop: int) -> None:
    """Events `start`..`stop`, spread over 5,000 voices and 30 days, types in rotation."""
    chunk = 5000
    for first in range(start, stop, chunk):
        rows = []
        for n in range(first, min(stop, first + chunk)):
            status = ResembleProvider.samples[n % 3]
            callback = resemble.validate_callback(resemble_callback(status, f"voice-{n % 5000}"))
            at = NOW - timedelta(seconds=(stop - n) * 2)
            (event,) = resemble.to_events(callback, receipt_id=None, received_at=at)
            rows.append({
                "id": event.id, "receipt_id": None, "provider": "resemble", "type": str(event.type),
                "voice_id": event.subject, "status": event.status, "occurred_at": event.time,
                "document": event.to_cloudevent(),
            })  # fmt: skip
        with store.engine.begin() as conn:
            conn.execute(events.insert(), rows)
        if store.engine.dialect.name == "sqlite":  # a bulk load outruns the once-a-second checkpoints
            with store.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    if store.engine.dialect.name == "postgresql":
        # What autovacuum does within a minute or so of a bulk load. Queried before it, with no
        # statistics, `status` + `provider` at 1M took a bitmap AND of both indexes and sorted
        # 333,333 rows (~1 s) instead of walking the primary key backwards (0.4 ms).
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE events")


def latency(client: Any, url: str, samples: int) -> tuple[float, float]:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        response = client.get(url, headers=ADMIN)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    cuts = statistics.quantiles(times, n=100)
    return cuts[49], cuts[98]


def ingest_rate(client: Any, count: int = 500, repeats: int = 3) -> float:
    """Callbacks/s, the median of `repeats` runs (single runs of 300 disagreed by a factor of 5)."""
    template = json.dumps(resemble_callback("dataset_issue", "VOICE"))
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(count):
            client.post("/hooks/resemble/growth-token", data=template.replace("VOICE", uuid.uuid4().hex),
                        content_type="application/json")  # fmt: skip
        rates.append(count / (time.perf_counter() - started))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--postgres", action="store_true", help=f"use {POSTGRES_URL} (TEST_DATABASE_URL)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="webhook-app-growth-"))
    if args.postgres:
        with postgres_schema() as url:
            measure(args, folder, url)
    else:
        measure(args, folder, f"sqlite:///{folder / 'events.db'}")


def measure(args: argparse.Namespace, folder: Path, database_url: str) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    settings = Settings(
        database_url=database_url,
        data_dir=str(folder),
        admin_tokens=("growth-admin",),
        provider_tokens={"resemble": ("growth-token",)},
        log_level="WARNING",
        routes=(Route(name="partner", handler="log"), Route(name="oncall", handler="log", events=("ops.*",))),
    )
    app = create_app(settings)
    store = app.extensions["webhook_app"].store
    migrate.upgrade(store.engine)
    print(f"database: {store.engine.dialect.name}", flush=True)
    client = app.test_client()
    client.post("/ui/login", data={"token": "growth-admin"})  # the pages' session cookie
    ingest_rate(client, 200)  # warm-up: first requests compile statements and fill caches
    empty_rate = ingest_rate(client)
    since = (NOW - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    year_ago = (NOW - timedelta(days=365)).isoformat().replace("+00:00", "Z")
    a_day = [(NOW - timedelta(days=d)).isoformat().replace("+00:00", "Z") for d in (2, 1)]
    queries = {
        "newest 50": "/api/events",
        "type": "/api/events?type=voice.consent.failed",
        "voice_id": "/api/events?voice_id=voice-42",
        "status+provider": "/api/events?status=dataset_issue&provider=resemble",
        "since 1 h": f"/api/events?since={since}",
        "since 1 y (all)": f"/api/events?since={year_ago}",
        "one day, a day ago": f"/api/events?since={a_day[0]}&until={a_day[1]}",
        "page 2": None,
    }
    pages = {
        "/api/stats 24h": "/api/stats?window=24h",
        "/api/stats 30d": "/api/stats?window=30d",
        "/api/voices": "/api/voices",
        "/api/voices?q=": "/api/voices?q=ice-42",
        "/ui/ (dashboard, 30d)": "/ui/?window=30d",
        "/ui/events": "/ui/events",
        "/ui/voices": "/ui/voices",
        "/ui/voices?q=": "/ui/voices?q=ice-42",
        "/ui/routes": "/ui/routes",
        "/ui/receipts": "/ui/receipts?state=rejected",
        "/ui/dead": "/ui/dead",
        "/ui/events/<id>": None,
    }
    database = store.engine.dialect.name
    report: dict[str, Any] = {
        "database": database,
        "empty_ingest_rate": empty_rate,
        "sizes": {},
    }
    print(f"ingest into the (nearly) empty store: {empty_rate:.0f}/s in-process", flush=True)
    seeded = 0
    for size in sizes:
        seed(store, seeded, size)
        seeded = size
        floor = latency(client, "/healthz", args.samples)
        row: dict[str, Any] = {"floor_p50_ms": floor[0], "floor_p99_ms": floor[1], "queries": {}}
        started = time.perf_counter()
        while store.rollups.roll_up(now=NOW + timedelta(days=1)):
            pass
        row["rollup_seconds"] = time.perf_counter() - started
        first_page = client.get("/api/events", headers=ADMIN).json
        assert first_page is not None, "GET /api/events answers JSON"
        cursor = first_page["next_cursor"]
        for name, url in queries.items():
            p50, p99 = latency(client, url or f"/api/events?cursor={cursor}", args.samples)
            row["queries"][name] = {"p50_ms": p50, "p99_ms": p99}
        newest = first_page["items"][0]["id"]
        for name, url in pages.items():
            p50, p99 = latency(client, url or f"/ui/events/{newest}", args.samples)
            row["queries"][name] = {"p50_ms": p50, "p99_ms": p99}
        row["ingest_rate"] = ingest_rate(client)
        row["ingest_ratio_to_empty"] = row["ingest_rate"] / empty_rate
        report["sizes"][size] = row
        print(f"\n{size:,} events (floor /healthz p50 {floor[0]:.2f} ms, p99 {floor[1]:.2f} ms)", flush=True)
        print("| query | p50 ms | p99 ms |\n|---|---|---|")
        for name, figures in row["queries"].items():
            print(f"| {name} | {figures['p50_ms']:.2f} | {figures['p99_ms']:.2f} |")
        print(f"rollup caught up in {row['rollup_seconds']:.1f} s")
        rate, ratio = row["ingest_rate"], row["ingest_ratio_to_empty"]
        print(f"ingest {rate:.0f}/s in-process, {ratio:.2f} of the empty store's")
    store.dispose()
    suffix = "-postgresql" if database == "postgresql" else ""
    out = Path(__file__).resolve().parent / "results" / f"growth{suffix}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"date": NOW.isoformat(timespec="seconds"), **report}, indent=2))
    print(f"\nwritten {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
