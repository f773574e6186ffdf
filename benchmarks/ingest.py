"""Ingest throughput and latency against a same-run floor.

    python benchmarks/ingest.py [--seconds 10] [--workers 2] [--connections 32] [--postgres URL]

Targets, each behind `gunicorn --workers N` (sync) on 127.0.0.1: (a) the floor, a bare Flask
view answering 204; (b) the real endpoint on SQLite with synchronous=NORMAL (the default)
and (c) FULL; (d) PostgreSQL. Also, per database, a second reference: a bare view that
only stores each callback (`store_only_app.py`: the same rows through the same store,
nothing parsed or validated), which shows what storing before acknowledging costs alone.
Prints a table with req/s, p50/p99, the ratio to the floor and the real endpoint's share
of the store-only rate, and writes benchmarks/results/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import POSTGRES_URL, free_port, postgres_schema, start, stop, wait_http  # noqa: E402
from benchmarks.load import LoadResult, run  # noqa: E402

HERE = Path(__file__).resolve().parent
TOKEN = "bench-token"  # noqa: S105 - a callback token for a throw-away local instance


def measure(
    name: str, command: list[str], env: dict[str, str], port: int, args: argparse.Namespace
) -> LoadResult:
    process = start(command, env)
    try:
        wait_http(f"http://127.0.0.1:{port}")
        run(
            f"http://127.0.0.1:{port}/hooks/resemble/{TOKEN}", connections=args.connections, seconds=2
        )  # warm-up
        result = run(
            f"http://127.0.0.1:{port}/hooks/resemble/{TOKEN}",
            connections=args.connections,
            seconds=args.seconds,
        )
    finally:
        stop(process)
    print(
        f"  {name}: {result.rate:.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms",
        flush=True,
    )
    return result


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
    base_env |= {"WEBHOOK_APP_RESEMBLE_TOKENS": TOKEN, "WEBHOOK_APP_ADMIN_TOKENS": "bench-admin",
                 "WEBHOOK_APP_LOG_LEVEL": "WARNING", "WEBHOOK_APP_DATA_DIR": str(work)}  # fmt: skip
    gunicorn = [sys.executable, "-m", "gunicorn", "--workers", str(args.workers), "--worker-class", "sync"]
    webhook_app_web = [sys.executable, "-m", "webhook_app", "web"]
    upgrade = [sys.executable, "-m", "webhook_app", "db", "upgrade"]

    def bare_view(module: str, port: int) -> list[str]:
        return [*gunicorn, "--bind", f"127.0.0.1:{port}", "--chdir", str(HERE), f"{module}:app"]

    results: dict[str, LoadResult] = {}

    port = free_port()
    results["floor"] = measure("floor (bare Flask 204)", bare_view("floor_app", port), base_env, port, args)

    with postgres_schema(args.postgres) as postgres, postgres_schema(args.postgres) as postgres_store_only:
        # name: (database, extra settings, whether it is the store-only reference); each starts empty
        full = {"WEBHOOK_APP_SQLITE_SYNCHRONOUS": "FULL"}
        targets = {
            "store only, sqlite": (f"sqlite:///{work / 'store-only.db'}", {}, True),
            "sqlite NORMAL": (f"sqlite:///{work / 'normal.db'}", {}, False),
            "sqlite FULL": (f"sqlite:///{work / 'full.db'}", full, False),
            "store only, postgresql": (postgres_store_only, {}, True),
            "postgresql": (postgres, {}, False),
        }
        for name, (database, extra, store_only) in targets.items():
            env = base_env | extra | {"WEBHOOK_APP_DATABASE_URL": database}
            subprocess.run(upgrade, env=env, check=True, capture_output=True)
            port = free_port()
            if store_only:
                command = bare_view("store_only_app", port)
            else:
                command = [*webhook_app_web, "--port", str(port), "--workers", str(args.workers)]
            results[name] = measure(name, command, env, port, args)

    floor = results["floor"].rate
    reference = {"sqlite NORMAL": "store only, sqlite", "postgresql": "store only, postgresql"}
    print("\n| target | req/s | p50 ms | p99 ms | errors | ratio to floor | share of store only |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        share = f"{r.rate / results[reference[name]].rate:.2f}" if name in reference else ""
        latency = f"{r.p50_ms:.1f} | {r.p99_ms:.1f}"
        print(f"| {name} | {r.rate:.0f} | {latency} | {r.errors} | {r.rate / floor:.2f} | {share} |")
    out = HERE / "results" / "ingest.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "os": platform.platform()},
        "settings": vars(args) | {"load_tool": results["floor"].tool},
        "results": {name: vars(r) | {"rate": r.rate, "ratio": r.rate / floor} for name, r in results.items()},
    }, indent=2))  # fmt: skip
    print(f"\nwritten {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
