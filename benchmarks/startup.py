"""How long the command line takes to start, against the imports it cannot do without.

    python benchmarks/startup.py [--runs 15]

Floors, measured in the same run: `python -c "import click"` for `webhook-app --help`, and
`python -c "import sqlalchemy, click"` for `webhook-app events list` (on an empty, upgraded
SQLite database: it reads the settings, opens the database and runs one query; with a
filter it also validates the filters, with marshmallow). Prints
the median wall time of each and the ratio to its floor; writes results/startup.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def median_seconds(command: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="webhook-app-startup-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOK_APP_")}
    env |= {
        "WEBHOOK_APP_DATABASE_URL": f"sqlite:///{folder / 'events.db'}",
        "WEBHOOK_APP_DATA_DIR": str(folder),
    }
    app = [sys.executable, "-m", "webhook_app"]
    subprocess.run([*app, "db", "upgrade"], env=env, check=True, capture_output=True)
    pairs = {
        "webhook-app --help": ([*app, "--help"], [sys.executable, "-c", "import click"]),
        "webhook-app events list": (
            [*app, "events", "list"],
            [sys.executable, "-c", "import sqlalchemy, click"],
        ),
        "webhook-app events list --since 24h": (
            [*app, "events", "list", "--since", "24h"],
            [sys.executable, "-c", "import sqlalchemy, click"],
        ),
    }
    results = {}
    print("| command | ms | floor | floor ms | ratio |\n|---|---|---|---|---|")
    for name, (command, floor) in pairs.items():
        median_seconds(command, env, 2)  # warm the file cache and the bytecode
        took, base = median_seconds(command, env, args.runs), median_seconds(floor, env, args.runs)
        shown_floor = " ".join(floor[2:])
        results[name] = {
            "ms": took * 1000,
            "floor": shown_floor,
            "floor_ms": base * 1000,
            "ratio": took / base,
        }
        print(f"| `{name}` | {took * 1000:.0f} | `{shown_floor}` | {base * 1000:.0f} | {took / base:.2f} |")
    out = HERE / "results" / "startup.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"runs": args.runs, "results": results}, indent=2))


if __name__ == "__main__":
    main()
