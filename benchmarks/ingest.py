"""Ingest throughput and latency against a same-run floor.

    python benchmarks/ingest.py [--seconds 10] [--workers 2] [--connections 32] [--postgres URL]

Targets, each behind `gunicorn --workers N` (sync) on 127.0.0.1: (a) the floor, a bare Flask
view answering 204; (b) the real endpoint on SQLite with synchronous=NORMAL (the default)
and (c) FULL; (d) PostgreSQL. Prints a table with req/s, p50/p99 and the ratio to the
floor, and writes benchmarks/results/ingest.json.
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
    results: dict[str, LoadResult] = {}

    port = free_port()
    floor_command = [*gunicorn, "--bind", f"127.0.0.1:{port}", "--chdir", str(HERE), "floor_app:app"]
    results["floor"] = measure("floor (bare Flask 204)", floor_command, base_env, port, args)

    with postgres_schema(args.postgres) as postgres:
        targets = {
            "sqlite NORMAL": {"WEBHOOK_APP_DATABASE_URL": f"sqlite:///{work / 'normal.db'}"},
            "sqlite FULL": {
                "WEBHOOK_APP_DATABASE_URL": f"sqlite:///{work / 'full.db'}",
                "WEBHOOK_APP_SQLITE_SYNCHRONOUS": "FULL",
            },
            "postgresql": {"WEBHOOK_APP_DATABASE_URL": postgres},
        }
        for name, extra in targets.items():
            env = base_env | extra
            upgrade = [sys.executable, "-m", "webhook_app", "db", "upgrade"]
            subprocess.run(upgrade, env=env, check=True, capture_output=True)
            port = free_port()
            command = [
                sys.executable,
                "-m",
                "webhook_app",
                "web",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
            ]
            results[name] = measure(name, command, env, port, args)

    floor = results["floor"].rate
    print("\n| target | req/s | p50 ms | p99 ms | errors | ratio to floor |\n|---|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r.rate:.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.errors} | {r.rate / floor:.2f} |"
        )
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
