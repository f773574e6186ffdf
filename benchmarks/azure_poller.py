"""The Azure poller with 10,000 tracked operations against a local fake Azure.

    python benchmarks/azure_poller.py [--operations 10000] [--idle-seconds 30] [--finishing 1000]

One `webhook-app worker` process polls the fake Azure (HTTPS on 127.0.0.1, the same fake the
tests use, which speaks Azure's documented API) from an SQLite store. Three phases:

1. Sweep: every operation is due at once and Azure still says `NotStarted`; polls/s until
   each has been polled once. The floor is the same fake Azure polled by one thread with
   the same HTTP client and no database (the most one poller could do here).
2. Idle: every operation waits for its next poll (minutes away); the worker's CPU and
   resident memory, sampled each second (target: CPU < 2 %, memory flat).
3. Finishing: a further set of operations polled every 2-10 s runs for 10 s, then Azure
   says `Succeeded`; Azure calls per finished operation once all are finished.

Writes benchmarks/results/azure_poller.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import cpu_seconds, stop, webhook_app  # noqa: E402
from tests.fake_azure import FakeAzure, self_signed_certificate  # noqa: E402
from webhook_app.providers.azure.client import AzureClient  # noqa: E402
from webhook_app.providers.azure.operations import NewOperation, OperationStore  # noqa: E402
from webhook_app.providers.azure.tables import azure_operations  # noqa: E402
from webhook_app.store import Store, migrate  # noqa: E402

HERE = Path(__file__).resolve().parent
KEY = "bench-azure-key"
SWEEP_INTERVAL = 600.0


def track(store: Store, azure: FakeAzure, count: int, *, interval: float, prefix: str) -> list[str]:
    """`count` operations, all due now (tracked one interval ago)."""
    operations = OperationStore(store)
    then = datetime.now(UTC) - timedelta(seconds=interval)
    urls = []
    for n in range(count):
        url = azure.add_operation("personal_voice", f"{prefix}-{n}")
        operation_id = url.split("/operations/")[1].split("?")[0]
        operations.track(
            NewOperation(operation_url=url, operation_id=operation_id, kind="personal_voice",
                         resource_id=f"{prefix}-{n}", interval_seconds=interval),
            now=then,
            limit=count,
        )  # fmt: skip
        urls.append(url)
    return urls


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def polled(store: Store, *, prefix: str = "") -> int:
    """Operations polled at least once."""
    with store.engine.connect() as conn:
        query = sa.select(sa.func.count()).where(azure_operations.c.polls > 0)
        if prefix:
            query = query.where(azure_operations.c.resource_id.startswith(prefix))
        return int(conn.execute(query).scalar_one())


def finished(store: Store, prefix: str) -> int:
    with store.engine.connect() as conn:
        query = sa.select(sa.func.count()).where(
            azure_operations.c.state == "finished", azure_operations.c.resource_id.startswith(prefix)
        )
        return int(conn.execute(query).scalar_one())


def floor_rate(azure: FakeAzure, urls: list[str], seconds: float = 5.0) -> float:
    """Polls/s of one thread with the same HTTP client and no database."""
    client = AzureClient(KEY, ("localhost",))
    done, deadline = 0, time.monotonic() + seconds
    started = time.monotonic()
    while time.monotonic() < deadline:
        client.get(urls[done % len(urls)])
        done += 1
    client.close()
    return done / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--operations", type=int, default=10_000)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--finishing", type=int, default=1_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="webhook-app-bench-"))
    cert, key = self_signed_certificate(work)
    os.environ["SSL_CERT_FILE"] = str(cert)  # our fake Azure's certificate, trusted like a private CA
    azure = FakeAzure((cert, key), key=KEY)
    url = f"sqlite:///{work / 'events.db'}"
    store = Store.from_url(url)
    migrate.upgrade(store.engine)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOK_APP_")} | {
        "WEBHOOK_APP_DATABASE_URL": url, "WEBHOOK_APP_DATA_DIR": str(work),
        "WEBHOOK_APP_LOG_LEVEL": "WARNING",
        "WEBHOOK_APP_AZURE_SPEECH_KEY": KEY, "WEBHOOK_APP_AZURE_ALLOWED_HOSTS": "localhost",
    }  # fmt: skip
    # Sweep and idle: after its first poll an operation waits 7.5-12.5 minutes.
    sweeping = env | {"WEBHOOK_APP_AZURE_POLL_INTERVAL": "600", "WEBHOOK_APP_AZURE_POLL_MAX_INTERVAL": "600"}
    finishing_env = env | {
        "WEBHOOK_APP_AZURE_POLL_INTERVAL": "2",
        "WEBHOOK_APP_AZURE_POLL_MAX_INTERVAL": "10",
    }

    print(f"tracking {args.operations} operations ...", flush=True)
    started = time.monotonic()
    urls = track(store, azure, args.operations, interval=SWEEP_INTERVAL, prefix="sweep")
    print(f"  tracked in {time.monotonic() - started:.1f} s", flush=True)
    floor = floor_rate(azure, urls)
    azure.requests.clear()

    worker = webhook_app(["worker"], sweeping, work)
    pid = worker.pid  # the worker runs in this process itself, no children
    try:
        # 1. Sweep
        started = time.monotonic()
        while (done := polled(store)) < args.operations:
            if time.monotonic() - started > 600:
                raise SystemExit(f"only {done} of {args.operations} polled in 600 s")
            time.sleep(0.5)
        sweep_seconds = time.monotonic() - started
        sweep_rate = args.operations / sweep_seconds
        sweep_calls = len(azure.gets())
        print(
            f"  sweep: {args.operations} polled in {sweep_seconds:.1f} s = {sweep_rate:.0f} polls/s (floor "
            f"{floor:.0f}/s, ratio {sweep_rate / floor:.2f}); {sweep_calls} Azure calls",
            flush=True,
        )

        # 2. Idle
        time.sleep(2)
        calls_before = len(azure.requests)
        cpu_before, t_before = cpu_seconds(pid), time.monotonic()
        memory = []
        while time.monotonic() - t_before < args.idle_seconds:
            time.sleep(1)
            memory.append(rss_mb(pid))
        idle_cpu = (cpu_seconds(pid) - cpu_before) / (time.monotonic() - t_before) * 100
        idle_calls = len(azure.requests) - calls_before
        print(
            f"  idle {args.idle_seconds:.0f} s: worker CPU {idle_cpu:.2f} %, RSS {memory[0]:.1f} -> "
            f"{memory[-1]:.1f} MB (max {max(memory):.1f}); {idle_calls} Azure calls",
            flush=True,
        )

        # 3. Finishing, by a worker polling every 2-10 s (the sweep's operations still wait minutes)
        stop(worker)
        worker = webhook_app(["worker"], finishing_env, work)
        azure.requests.clear()
        finishing = track(store, azure, args.finishing, interval=2.0, prefix="finishing")
        time.sleep(10)
        for url_ in finishing:
            azure.set_status(url_, "Succeeded")
        started = time.monotonic()
        while (done := finished(store, "finishing")) < args.finishing:
            if time.monotonic() - started > 300:
                raise SystemExit(f"only {done} of {args.finishing} finished in 300 s")
            time.sleep(0.5)
        # Operation and resource GETs alike; the sweep's operations sleep meanwhile.
        calls = [r for r in azure.requests if r.method == "GET"]
        per_operation = len(calls) / args.finishing
        resource_calls = sum("/personalvoices/" in r.path for r in calls)
        print(
            f"  finishing: {args.finishing} operations finished {time.monotonic() - started:.1f} s after "
            f"Azure said Succeeded; {per_operation:.1f} Azure calls per operation "
            f"({resource_calls} resource reads)",
            flush=True,
        )
    finally:
        stop(worker)
        azure.close()
        store.dispose()

    out = HERE / "results" / "azure_poller.json"
    out.write_text(json.dumps({
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "os": platform.platform()},
        "settings": vars(args),
        "sweep": {"operations": args.operations, "seconds": sweep_seconds, "polls_per_second": sweep_rate,
                  "floor_polls_per_second": floor, "ratio": sweep_rate / floor, "azure_calls": sweep_calls},
        "idle": {"seconds": args.idle_seconds, "cpu_percent": idle_cpu, "rss_mb": memory,
                 "azure_calls": idle_calls},
        "finishing": {"operations": args.finishing, "azure_calls_per_operation": per_operation,
                      "resource_reads": resource_calls},
    }, indent=2))  # fmt: skip
    print(f"\nwritten {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
