"""Ingest throughput and latency: the real endpoint against the recipes users would write instead.

    python benchmarks/ingest.py [--seconds 10] [--rounds 3] [--workers 2] [--connections 32]
                                [--postgres URL] [--redis URL] [--only TARGET]...

Targets, each behind gunicorn with `--workers N` on 127.0.0.1, measured in one run, in
turn, once per round (the machine's speed drifts by tens of percent over minutes, so
ratios are taken within a round and the table shows medians over the rounds):
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
writes benchmarks/results/ingest.json with every round.

Where the time goes: the same table shows the CPU each request cost in the server (the
gunicorn master and workers), in PostgreSQL or Redis (for the targets using them) and in
the load generator, and the share of the machine left idle during the run. Everything
shares one machine, so a target's rate follows from what its requests cost there, unless
the machine sat idle (requests waiting on locks or commits rather than on a core).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import (  # noqa: E402
    POSTGRES_URL,
    cpu_of,
    emptied,
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


@dataclass
class Target:
    name: str
    command: Callable[[int], list[str]]  # for a free port
    env: dict[str, str]
    backend: str = ""  # the server process whose CPU counts as the database's
    redis: bool = False


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3, help="each target is measured once per round")
    parser.add_argument("--workers", type=int, default=2)  # `webhook-app web`'s default, one per core here
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--postgres", default=POSTGRES_URL)
    parser.add_argument(
        "--redis", default="redis://127.0.0.1:6379/15", help="a database only the recipes use"
    )
    parser.add_argument(
        "--only",
        action="append",
        help="a target to measure, named as in the table; repeatable (the floor always is)",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="webhook-app-bench-"))
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOK_APP_")}
    base_env |= {"WEBHOOK_APP_RESEMBLE_TOKENS": TOKEN, "WEBHOOK_APP_ADMIN_TOKENS": ADMIN_TOKEN,
                 "WEBHOOK_APP_LOG_LEVEL": "WARNING", "WEBHOOK_APP_DATA_DIR": str(work)}  # fmt: skip
    gunicorn = [sys.executable, "-m", "gunicorn", "--workers", str(args.workers), "--worker-class", "sync"]

    def bare_view(module: str) -> Callable[[int], list[str]]:
        return lambda port: [*gunicorn, "--bind", f"127.0.0.1:{port}", "--chdir", str(HERE), f"{module}:app"]

    def endpoint(port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "webhook_app",
            "web",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
        ]

    with postgres_schema(args.postgres) as postgres, postgres_schema(args.postgres) as postgres_store_only:
        recipe_env = base_env | {"RECIPE_TOKEN": TOKEN, "RECIPE_REDIS_URL": args.redis}
        targets = [
            Target("floor", bare_view("floor_app"), base_env),
            *(Target(name, bare_view(module), recipe_env, "redis-server", redis=True)
              for name, module in RECIPES.items()),
        ]  # fmt: skip
        databases = {  # each starts empty
            "store only, sqlite": f"sqlite:///{work / 'store-only.db'}",
            "sqlite": f"sqlite:///{work / 'endpoint.db'}",
            "store only, postgresql": postgres_store_only,
            "postgresql": postgres,
        }
        for name, database in databases.items():
            env = base_env | {"WEBHOOK_APP_DATABASE_URL": database}
            command = bare_view("store_only_app") if name.startswith("store only") else endpoint
            targets.append(
                Target(name, command, env, "postgres" if database.startswith("postgresql") else "")
            )
        wanted = {"floor", *args.only} if args.only else None
        unknown = wanted - {target.name for target in targets} if wanted else set()
        if unknown:
            parser.error(f"no target named {', '.join(sorted(unknown))}")
        targets = [target for target in targets if wanted is None or target.name in wanted]
        for target in targets:
            if "WEBHOOK_APP_DATABASE_URL" in target.env:
                upgrade = [sys.executable, "-m", "webhook_app", "db", "upgrade"]
                subprocess.run(upgrade, env=target.env, check=True, capture_output=True)

        rounds: list[dict[str, tuple[LoadResult, Cost]]] = []
        for number in range(1, args.rounds + 1):
            print(f"round {number} of {args.rounds}", flush=True)
            measured = {}
            for target in targets:
                port = free_port()
                with emptied(args.redis) if target.redis else nullcontext():
                    measured[target.name] = measure(
                        target.name, target.command(port), target.env, port, args, target.backend
                    )
            rounds.append(measured)

    summary = summarize(rounds)
    print(f"\nmedians of {args.rounds} rounds; ratios are each round's, against that round's floor"
          " and faster recipe")  # fmt: skip
    print("| target | req/s | p50 ms | p99 ms | errors | ratio to faster recipe | ratio to floor"
          " | CPU µs/req: server | database or Redis | load generator | idle |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, row in summary.items():
        database = f"{row['database_us']:.0f}" if row["database_us"] is not None else ""
        print(
            f"| {name} | {row['rate']:.0f} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {row['errors']}"
            f" | {row['ratio_to_faster_recipe']:.2f} | {row['ratio_to_floor']:.2f} | {row['server_us']:.0f}"
            f" | {database} | {row['load_us']:.0f} | {row['idle']:.0%} |"
        )
    out = HERE / "results" / "ingest.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "os": platform.platform()},
        "settings": vars(args) | {"load_tool": rounds[0]["floor"][0].tool},
        "medians": summary,
        "rounds": [{name: vars(r) | {"rate": r.rate, "cpu": asdict(c)} for name, (r, c) in measured.items()}
                   for measured in rounds],
    }, indent=2))  # fmt: skip
    print(f"\nwritten {out.relative_to(HERE.parent)}")


def summarize(rounds: list[dict[str, tuple[LoadResult, Cost]]]) -> dict[str, dict[str, Any]]:
    """Per target, the median of each figure over the rounds; ratios are taken within a round, so a
    machine that slows down between rounds moves both sides of a ratio."""

    def median_of(
        name: str, figure: Callable[[LoadResult, Cost, dict[str, tuple[LoadResult, Cost]]], Any]
    ) -> Any:
        values = [figure(*measured[name], measured) for measured in rounds]
        return None if None in values else statistics.median(values)

    def faster_recipe(measured: dict[str, tuple[LoadResult, Cost]]) -> float:
        return max((measured[name][0].rate for name in RECIPES if name in measured), default=math.nan)

    return {
        name: {
            "rate": median_of(name, lambda r, c, m: r.rate),
            "p50_ms": median_of(name, lambda r, c, m: r.p50_ms),
            "p99_ms": median_of(name, lambda r, c, m: r.p99_ms),
            "errors": sum(measured[name][0].errors for measured in rounds),
            "ratio_to_faster_recipe": median_of(name, lambda r, c, m: r.rate / faster_recipe(m)),
            "ratio_to_floor": median_of(name, lambda r, c, m: r.rate / m["floor"][0].rate),
            "server_us": median_of(name, lambda r, c, m: c.server_us),
            "database_us": median_of(name, lambda r, c, m: c.database_us),
            "load_us": median_of(name, lambda r, c, m: c.load_us),
            "idle": median_of(name, lambda r, c, m: c.idle),
        }
        for name in rounds[0]
    }


if __name__ == "__main__":
    main()
