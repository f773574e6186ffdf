"""Ingest throughput and latency: the real endpoint against the recipes users would write instead.

    python benchmarks/ingest.py [--seconds 10] [--workers 2] [--connections 32] [--postgres URL] [--redis URL]

Targets, each behind gunicorn with `--workers N` on 127.0.0.1, measured in one run:
- the floor, a bare Flask view answering 204 (sync workers);
- the two recipes a team would build instead of this service (`recipe_*_app.py`): a Flask
  view that checks the token, validates with marshmallow and enqueues on Redis, answering
  202, with Celery (`.delay()`) and with RQ (`Queue.enqueue`), under sync workers, the
  gunicorn default. No Celery or RQ worker runs: only enqueueing is measured. The Redis
  database of `--redis` is emptied before and after each;
- per database, a bare view that only stores each callback (`store_only_app.py`: the same
  rows through the same store, nothing parsed or validated), the cost of storing alone;
- the real endpoint (`webhook-app web`, its evented workers) on SQLite with
  synchronous=NORMAL (the default) and on PostgreSQL (`synchronous_commit` on).
Prints a table with req/s, p50/p99, the ratio to the faster recipe and to the floor, and
writes benchmarks/results/ingest.json.

Where the time goes: the same table shows the CPU each request cost in the server (the
gunicorn master and workers), in PostgreSQL or Redis (for the targets using them) and in
the load generator, and the share of the machine left idle during the run. Everything
shares one machine, so a target's rate follows from what its requests cost there, unless
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import redis

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
ADMIN_TOKEN = "bench-admin-0123456789abcdefghijklmn"  # noqa: S105 - for a throw-away local instance
RECIPES = {"recipe: Flask + Celery": "recipe_celery_app", "recipe: Flask + RQ": "recipe_rq_app"}


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
    name: str, command: list[str], env: dict[str, str], port: int, args: argparse.Namespace, backend: str = ""
) -> tuple[LoadResult, Cost]:
    """Load one target; `backend` names the server process whose CPU counts as the database's."""
    url = f"http://127.0.0.1:{port}/hooks/resemble/{TOKEN}"
    process = start(command, env)
    try:
        wait_http(f"http://127.0.0.1:{port}")
        run(url, connections=args.connections, seconds=2)  # warm-up; also opens the database connections
        server = process_tree(process.pid)
        database = named(backend) if backend else set()

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
    database_note = f", {backend} {cost.database_us:.0f} µs" if cost.database_us is not None else ""
    print(
        f"  {name}: {result.rate:.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms;"
        f" CPU per request: server {cost.server_us:.0f} µs{database_note}, load {cost.load_us:.0f} µs;"
        f" idle {cost.idle:.0%}",
        flush=True,
    )
    return result, cost


@contextmanager
def emptied(redis_url: str) -> Iterator[None]:
    """The benchmark's own Redis database, empty before a recipe runs and after (nothing consumes it)."""
    connection = redis.Redis.from_url(redis_url)
    connection.flushdb()
    try:
        yield
    finally:
        connection.flushdb()
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)  # `webhook-app web`'s default, one per core here
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--postgres", default=POSTGRES_URL)
    parser.add_argument(
        "--redis", default="redis://127.0.0.1:6379/15", help="a database only the recipes use"
    )
    parser.add_argument("--only", help="comma-separated targets to measure (the floor always is)")
    args = parser.parse_args()
    wanted = set(args.only.split(",")) if args.only else None

    def chosen(name: str) -> bool:
        return wanted is None or name in wanted

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
    results["floor"], costs["floor"] = measure("floor (bare Flask 204)", bare_view("floor_app", port),
                                               base_env, port, args)  # fmt: skip
    recipe_env = base_env | {"RECIPE_TOKEN": TOKEN, "RECIPE_REDIS_URL": args.redis}
    for name, module in RECIPES.items():
        if not chosen(name):
            continue
        port = free_port()
        with emptied(args.redis):
            results[name], costs[name] = measure(
                name, bare_view(module, port), recipe_env, port, args, "redis-server"
            )

    with postgres_schema(args.postgres) as postgres, postgres_schema(args.postgres) as postgres_store_only:
        # name: (database, whether it is the store-only view); each starts empty
        targets = {
            "store only, sqlite": (f"sqlite:///{work / 'store-only.db'}", True),
            "sqlite": (f"sqlite:///{work / 'endpoint.db'}", False),
            "store only, postgresql": (postgres_store_only, True),
            "postgresql": (postgres, False),
        }
        for name, (database, store_only) in targets.items():
            if not chosen(name):
                continue
            env = base_env | {"WEBHOOK_APP_DATABASE_URL": database}
            subprocess.run(upgrade, env=env, check=True, capture_output=True)
            port = free_port()
            if store_only:
                command = bare_view("store_only_app", port)
            else:
                command = [*webhook_app_web, "--port", str(port), "--workers", str(args.workers)]
            backend = "postgres" if database.startswith("postgresql") else ""
            results[name], costs[name] = measure(name, command, env, port, args, backend)

    floor = results["floor"].rate
    faster_recipe = max((results[name].rate for name in RECIPES if name in results), default=float("nan"))
    print("\n| target | req/s | p50 ms | p99 ms | errors | ratio to faster recipe | ratio to floor"
          " | CPU µs/req: server | database or Redis | load generator | idle |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        latency = f"{r.p50_ms:.1f} | {r.p99_ms:.1f}"
        c = costs[name]
        database = f"{c.database_us:.0f}" if c.database_us is not None else ""
        cpu = f"{c.server_us:.0f} | {database} | {c.load_us:.0f} | {c.idle:.0%}"
        ratios = f"{r.rate / faster_recipe:.2f} | {r.rate / floor:.2f}"
        print(f"| {name} | {r.rate:.0f} | {latency} | {r.errors} | {ratios} | {cpu} |")
    out = HERE / "results" / "ingest.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "os": platform.platform()},
        "settings": vars(args) | {"load_tool": results["floor"].tool},
        "results": {name: vars(r) | {"rate": r.rate, "ratio_to_faster_recipe": r.rate / faster_recipe,
                                     "ratio_to_floor": r.rate / floor, "cpu": asdict(costs[name])}
                    for name, r in results.items()},
    }, indent=2))  # fmt: skip
    print(f"\nwritten {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
