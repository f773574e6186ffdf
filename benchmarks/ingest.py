"""Ingest throughput and latency against a same-run floor.

    python benchmarks/ingest.py [--seconds 10] [--workers 2] [--connections 32] [--postgres URL]

Targets, each behind `gunicorn --workers N` on 127.0.0.1: (a) the floor, a bare Flask
view answering 204 (sync workers); (b) the real endpoint (`webhook-app web`, its evented
workers) on SQLite with synchronous=NORMAL (the default) and (c) FULL; (d) PostgreSQL;
and (b) and (d) again under gunicorn's sync workers, the worker class the evented one
replaced, as a reference. Also, per database, a second reference: a bare view that
only stores each callback (`store_only_app.py`: the same rows through the same store,
nothing parsed or validated), which shows what storing before acknowledging costs alone.
Prints a table with req/s, p50/p99, the ratio to the floor and the real endpoint's share
of the store-only rate, and writes benchmarks/results/ingest.json.

Where the time goes: the same table shows the CPU each request cost in the server (the
gunicorn master and workers), in PostgreSQL (its processes, for the PostgreSQL targets)
and in the load generator, and the share of the machine left idle during the run.
Everything shares one machine, so a target's rate follows from what its requests cost
there: a ratio to the floor is about the floor's CPU per request over the target's, unless
the machine sat idle (requests waiting on locks or commits rather than on a core).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import (  # noqa: E402
    POSTGRES_URL,
    cpu_of,
    free_port,
    machine_ticks,
    named,
    postgres_schema,
    process_tree,
    start,
    stop,
    wait_http,
)
from benchmarks.load import LoadResult, run  # noqa: E402

HERE = Path(__file__).resolve().parent
TOKEN = "bench-token-0123456789abcdefghijklmn"  # noqa: S105 - for a throw-away local instance
ADMIN_TOKEN = "bench-admin-0123456789abcdefghijklmn"  # noqa: S105 - for a throw-away local instance  # noqa: S105 - a callback token for a throw-away local instance


@dataclass
class Cost:
    """CPU µs per request by where it was spent, and the machine's idle share, during one run."""

    server_us: float
    database_us: float | None
    load_us: float
    idle: float


def _own_cpu() -> float:
    """This script's CPU and that of its finished children (wrk, when it is the load generator)."""
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    )


def measure(
    name: str, command: list[str], env: dict[str, str], port: int, args: argparse.Namespace
) -> tuple[LoadResult, Cost]:
    url = f"http://127.0.0.1:{port}/hooks/resemble/{TOKEN}"
    process = start(command, env)
    try:
        wait_http(f"http://127.0.0.1:{port}")
        run(url, connections=args.connections, seconds=2)  # warm-up; also opens the database connections
        server = process_tree(process.pid)
        database = named("postgres") if "postgresql" in env.get("WEBHOOK_APP_DATABASE_URL", "") else set()

        def snapshot() -> tuple[float, float, float, int, int]:
            return cpu_of(server), cpu_of(database), _own_cpu(), *machine_ticks()

        before = snapshot()
        result = run(url, connections=args.connections, seconds=args.seconds)
        after = snapshot()
    finally:
        stop(process)
    server_s, database_s, load_s, idle_ticks, all_ticks = (a - b for a, b in zip(after, before, strict=True))
    requests = max(result.requests, 1)
    cost = Cost(
        server_us=1e6 * server_s / requests,
        database_us=1e6 * database_s / requests if database else None,
        load_us=1e6 * load_s / requests,
        idle=idle_ticks / max(all_ticks, 1),
    )
    database_note = f", database {cost.database_us:.0f} µs" if cost.database_us is not None else ""
    print(
        f"  {name}: {result.rate:.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms;"
        f" CPU per request: server {cost.server_us:.0f} µs{database_note}, load {cost.load_us:.0f} µs;"
        f" idle {cost.idle:.0%}",
        flush=True,
    )
    return result, cost


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)  # `webhook-app web`'s default, one per core here
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--postgres", default=POSTGRES_URL)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="webhook-app-bench-"))
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOK_APP_")}
    base_env |= {"WEBHOOK_APP_RESEMBLE_TOKENS": TOKEN, "WEBHOOK_APP_ADMIN_TOKENS": ADMIN_TOKEN,
                 "WEBHOOK_APP_LOG_LEVEL": "WARNING", "WEBHOOK_APP_DATA_DIR": str(work)}  # fmt: skip
    gunicorn = [sys.executable, "-m", "gunicorn", "--workers", str(args.workers), "--worker-class", "sync"]
    webhook_app_web = [sys.executable, "-m", "webhook_app", "web"]
    upgrade = [sys.executable, "-m", "webhook_app", "db", "upgrade"]

    def bare_view(module: str, port: int) -> list[str]:
        return [*gunicorn, "--bind", f"127.0.0.1:{port}", "--chdir", str(HERE), f"{module}:app"]

    results: dict[str, LoadResult] = {}
    costs: dict[str, Cost] = {}

    port = free_port()
    floor_view = bare_view("floor_app", port)
    results["floor"], costs["floor"] = measure("floor (bare Flask 204)", floor_view, base_env, port, args)

    with (
        postgres_schema(args.postgres) as postgres,
        postgres_schema(args.postgres) as postgres_store_only,
        postgres_schema(args.postgres) as postgres_sync,
    ):
        # name: (database, extra settings, whether it is the store-only reference); each starts empty
        full = {"WEBHOOK_APP_SQLITE_SYNCHRONOUS": "FULL"}
        targets = {
            "store only, sqlite": (f"sqlite:///{work / 'store-only.db'}", {}, True),
            "sqlite NORMAL": (f"sqlite:///{work / 'normal.db'}", {}, False),
            "sqlite FULL": (f"sqlite:///{work / 'full.db'}", full, False),
            "store only, postgresql": (postgres_store_only, {}, True),
            "postgresql": (postgres, {}, False),
            "sqlite NORMAL, sync workers": (f"sqlite:///{work / 'sync.db'}", {}, False),
            "postgresql, sync workers": (postgres_sync, {}, False),
        }
        for name, (database, extra, store_only) in targets.items():
            env = base_env | extra | {"WEBHOOK_APP_DATABASE_URL": database}
            subprocess.run(upgrade, env=env, check=True, capture_output=True)
            port = free_port()
            if store_only:
                command = bare_view("store_only_app", port)
            elif name.endswith("sync workers"):
                command = [*gunicorn, "--bind", f"127.0.0.1:{port}", "webhook_app:create_app()"]
            else:
                command = [*webhook_app_web, "--port", str(port), "--workers", str(args.workers)]
            results[name], costs[name] = measure(name, command, env, port, args)

    floor = results["floor"].rate
    reference = {"sqlite NORMAL": "store only, sqlite", "postgresql": "store only, postgresql",
                 "sqlite NORMAL, sync workers": "store only, sqlite",
                 "postgresql, sync workers": "store only, postgresql"}  # fmt: skip
    print("\n| target | req/s | p50 ms | p99 ms | errors | ratio to floor | share of store only"
          " | CPU µs/req: server | database | load generator | idle |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        share = f"{r.rate / results[reference[name]].rate:.2f}" if name in reference else ""
        latency = f"{r.p50_ms:.1f} | {r.p99_ms:.1f}"
        c = costs[name]
        database = f"{c.database_us:.0f}" if c.database_us is not None else ""
        cpu = f"{c.server_us:.0f} | {database} | {c.load_us:.0f} | {c.idle:.0%}"
        print(f"| {name} | {r.rate:.0f} | {latency} | {r.errors} | {r.rate / floor:.2f} | {share} | {cpu} |")
    out = HERE / "results" / "ingest.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "os": platform.platform()},
        "settings": vars(args) | {"load_tool": results["floor"].tool},
        "results": {name: vars(r) | {"rate": r.rate, "ratio": r.rate / floor, "cpu": asdict(costs[name])}
                    for name, r in results.items()},
    }, indent=2))  # fmt: skip
    print(f"\nwritten {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
