"""Deliveries/s and send → target latency: the service beside the recipes users would write instead.

    python benchmarks/dispatch.py [--events 3000] [--workers 1,2,4] [--latency-rate 100]
                                  [--latency-seconds 10] [--rounds 1] [--only TARGET]... [--redis URL]

Throughput: N events queued first, each with one delivery to a local HTTP sink (keep-alive,
HTTP/1.1), then K worker processes deliver them all; deliveries/s from the first arrival to
the last, and every event counted at the sink (a repeat or a loss is printed). The service
runs `webhook-app worker` (8 threads each) on PostgreSQL and on SQLite with a signed
`forward` route; the recipes (`recipe_dispatch.py`, on Redis) are a Celery task with
`acks_late` (prefork with K pool processes, and K processes of 8 threads) and RQ's
`SimpleWorker` (K processes), each posting the same signed CloudEvent with one kept-alive
`httpx.Client` per process. Ratios are to the best recipe at the same K. Latency, open loop
at `--latency-rate`: from the callback's POST to the sink (the service: `webhook-app web`
and 4 workers on PostgreSQL, `webhook-app serve` on SQLite), from the enqueue for the
recipes (2 worker processes). With `--rounds`, every target is measured once per round, in
turn, and the table shows each one's median round (this machine's speed moves between
minutes). Writes results/dispatch.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import (  # noqa: E402
    POSTGRES_URL,
    cpu_of,
    cpu_seconds,
    emptied,
    free_port,
    named,
    postgres_schema,
    process_tree,
    start,
    stop,
    wait_http,
    webhook_app,
)
from webhook_app.model.events import Event, EventData, EventType
from webhook_app.model.routes import Route
from webhook_app.providers.resemble.samples import resemble_callback
from webhook_app.store import NewReceipt, Store, migrate
from webhook_app.usecases.ingest import record_events

THREADS = 8
ROUTES = (Route(name="sink", handler="forward"),)
PRODUCT = ("webhook-app, PostgreSQL", "webhook-app, SQLite")
RECIPES = ("celery, prefork", "celery, threads", "rq, SimpleWorker")
TARGETS = [*PRODUCT, *RECIPES]
SECRET = "whsec_ZGlzcGF0Y2gtYmVuY2gtc2VjcmV0"  # noqa: S105 - a throw-away signing key for a local sink


class _Server(ThreadingHTTPServer):
    """Keeps connections alive (HTTP/1.1), as a real target would, so clients that reuse them can."""

    daemon_threads = True
    request_queue_size = 256  # the stdlib's 5 resets connections under 32 concurrent clients


class Sink:
    """Counts arrivals and keeps (arrival wall time, CloudEvent time, voice id) for each."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, str, str]] = []
        lock = threading.Lock()
        arrivals = self.arrivals

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                arrived, document = time.time(), json.loads(body)
                with lock:
                    arrivals.append((arrived, document["time"], document["data"]["voice_id"]))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/in"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.arrivals) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        if len(self.arrivals) < count:
            raise RuntimeError(f"only {len(self.arrivals)} of {count} arrived")

    def rate(self, count: int) -> float:
        times = sorted(arrival[0] for arrival in self.arrivals[-count:])
        return (count - 1) / (times[-1] - times[0])


def seed(store: Store, count: int) -> list[Event]:
    now = datetime.now(UTC)
    events = []
    for n in range(count):
        receipt = NewReceipt(provider="resemble", received_at=now, body=b"{}", headers={})
        data = EventData(provider="resemble", voice_id=f"voice-{n}", status="finished", ok=True)
        event = Event(EventType.TRAINING_SUCCEEDED, "/providers/resemble", now, data, receipt_id=receipt.id)
        record_events(store, ROUTES, receipt, [event], dedupe_key=None, dedupe_window=timedelta(0))
        events.append(event)
    return events


def environment(url: str, folder: Path, sink: Sink) -> dict[str, str]:
    config = folder / "routes.toml"
    config.write_text(
        f'[[routes]]\nname = "sink"\nhandler = "forward"\n[routes.options]\nurl = "{sink.url}"\n'
        f'secret = "{SECRET}"\nallow_private_targets = true\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOK_APP_")}
    return env | {
        "WEBHOOK_APP_DATABASE_URL": url,
        "WEBHOOK_APP_CONFIG": str(config),
        "WEBHOOK_APP_DATA_DIR": str(folder),
        "WEBHOOK_APP_LOG_LEVEL": "WARNING",
        "WEBHOOK_APP_RESEMBLE_TOKENS": "bench-token-0123456789abcdefghijklmn",
        "WEBHOOK_APP_ADMIN_TOKENS": "bench-admin-0123456789abcdefghijklmn",
        "WEBHOOK_APP_DISPATCH_CONCURRENCY": str(THREADS),
    }


def throughput(target: str, workers: int, count: int, base: str, redis_url: str) -> dict[str, Any]:
    """Deliveries/s of one target with `workers` processes: `count` events queued first, then
    the workers started; the rate from the first arrival at the sink to the last."""
    folder = Path(tempfile.mkdtemp(prefix="webhook-app-dispatch-"))
    sink = Sink()
    try:
        if target in PRODUCT:
            with database(target, base, folder) as url:
                store = Store.from_url(url)
                migrate.upgrade(store.engine)
                seed(store, count)
                store.dispose()
                processes = [webhook_app(["worker"], environment(url, folder, sink)) for _ in range(workers)]
                backend = "postgres" if target == "webhook-app, PostgreSQL" else ""
                return _measured(sink, processes, count, backend)
        with emptied(redis_url):
            env = recipe_environment(redis_url, sink)
            enqueue(target, [_document(n) for n in range(count)], env)
            return _measured(sink, recipe_workers(target, workers, env), count, "redis-server")
    finally:
        sink.server.shutdown()


def _measured(
    sink: Sink, processes: list[subprocess.Popen[bytes]], count: int, backend: str
) -> dict[str, Any]:
    """The rate, the arrivals, and the CPU each delivery cost from the first arrival to the
    last: in the workers (with their children: Celery's pool), in the queue's server
    (`backend`: PostgreSQL or Redis; SQLite's is in the workers) and in the sink (this process)."""
    try:
        sink.wait_for(1, timeout=60)
        workers = set().union(*(process_tree(process.pid) for process in processes))
        queue = named(backend) if backend else set()
        before = cpu_of(workers), cpu_of(queue), cpu_seconds(os.getpid())
        sink.wait_for(count, timeout=300)
        after = cpu_of(workers), cpu_of(queue), cpu_seconds(os.getpid())
        time.sleep(0.5)  # a repeat, had there been one, would arrive now
    finally:
        for process in processes:
            stop(process)
    voices = [voice for _, _, voice in sink.arrivals]
    spent = [1000 * (a - b) / (count - 1) for a, b in zip(after, before, strict=True)]
    return {
        "rate": sink.rate(count),
        "arrived": len(voices),
        "distinct": len(set(voices)),
        "cpu_ms": {"workers": spent[0], "queue": spent[1], "sink": spent[2], "total": sum(spent)},
    }


@contextmanager
def database(target: str, base: str, folder: Path) -> Iterator[str]:
    if target == "webhook-app, PostgreSQL":
        with postgres_schema(base) as url:
            yield url
    else:
        yield f"sqlite:///{folder / 'webhook_app.db'}"


def _document(n: int | str) -> dict[str, Any]:
    data = EventData(provider="resemble", voice_id=f"voice-{n}", status="finished", ok=True)
    return Event(EventType.TRAINING_SUCCEEDED, "/providers/resemble", datetime.now(UTC), data).to_cloudevent()


def recipe_environment(redis_url: str, sink: Sink) -> dict[str, str]:
    here = str(Path(__file__).resolve().parent)
    return {k: v for k, v in os.environ.items() if not k.startswith("RECIPE_")} | {
        "PYTHONPATH": here,
        "RECIPE_REDIS_URL": redis_url,
        "RECIPE_TARGET_URL": sink.url,
        "RECIPE_SECRET": SECRET,
    }


def enqueue(target: str, documents: list[dict[str, Any]], env: dict[str, str]) -> None:
    """Put the deliveries on the recipe's queue, as its producer would (from this process)."""
    os.environ.update({k: v for k, v in env.items() if k.startswith("RECIPE_")})
    import recipe_dispatch  # noqa: PLC0415 - reads the environment just set
    from redis import Redis
    from rq import Queue

    if target == "rq, SimpleWorker":
        queue = Queue("deliveries", connection=Redis.from_url(env["RECIPE_REDIS_URL"]))
        for document in documents:
            queue.enqueue(recipe_dispatch.deliver, document)
        return
    recipe_dispatch.app.conf.broker_url = env["RECIPE_REDIS_URL"]
    with recipe_dispatch.app.producer_or_acquire() as producer:
        for document in documents:
            recipe_dispatch.deliver_task.apply_async((document,), producer=producer)


def recipe_workers(target: str, workers: int, env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    celery = [sys.executable, "-m", "celery", "-A", "recipe_dispatch", "worker", "--loglevel", "WARNING"]
    here = Path(__file__).resolve().parent
    if target == "celery, prefork":
        return [start([*celery, "--pool", "prefork", "--concurrency", str(workers)], env, here)]
    if target == "celery, threads":
        threads = [*celery, "--pool", "threads", "--concurrency", str(THREADS)]
        return [start([*threads, "--hostname", f"w{n}@%h"], env, here) for n in range(workers)]
    rq = [sys.executable, "-m", "rq.cli", "worker", "--worker-class", "rq.SimpleWorker", "--url",
          env["RECIPE_REDIS_URL"], "--logging_level", "WARNING", "deliveries"]  # fmt: skip
    return [start(rq, env, here) for _ in range(workers)]


def latency(target: str, rate: float, seconds: float, base: str, redis_url: str) -> dict[str, float]:
    """From the moment each callback is sent (a recipe's: enqueued) to its arrival at the sink,
    open loop at `rate`/s. The service: callbacks to `webhook-app web` (2 web workers) with 4
    workers on PostgreSQL, to `webhook-app serve` on SQLite; a recipe: 2 worker processes."""
    folder = Path(tempfile.mkdtemp(prefix="webhook-app-latency-"))
    sink = Sink()
    sent_at: dict[str, float] = {}
    # This process sends and is the sink: a full collection here would pause both and be
    # counted against the target (seen: 50-70 ms, once a run). It keeps little meanwhile.
    gc.collect()
    gc.disable()
    try:
        if target in PRODUCT:
            with database(target, base, folder) as url:
                store = Store.from_url(url)
                migrate.upgrade(store.engine)
                store.dispose()
                env = environment(url, folder, sink)
                port = free_port()
                if target == "webhook-app, PostgreSQL":
                    processes = [webhook_app(["web", "--port", str(port), "--workers", "2"], env)]
                    processes += [webhook_app(["worker"], env) for _ in range(4)]
                else:
                    processes = [webhook_app(["serve", "--port", str(port)], env, folder)]
                try:
                    wait_http(f"http://127.0.0.1:{port}")
                    with httpx.Client(timeout=10) as http:
                        url_of = (
                            f"http://127.0.0.1:{port}/hooks/resemble/bench-token-0123456789abcdefghijklmn"
                        )
                        warm_up(lambda v: http.post(url_of, json=resemble_callback("finished", v)), sink)
                        paced(
                            rate,
                            seconds,
                            sent_at,
                            lambda v: http.post(url_of, json=resemble_callback("finished", v)),
                        )
                    sink.wait_for(len(sent_at), timeout=60)
                finally:
                    for process in processes:
                        stop(process)
        else:
            with emptied(redis_url):
                env = recipe_environment(redis_url, sink)
                workers = recipe_workers(target, 2, env)
                try:
                    warm_up(lambda v: enqueue(target, [_document(v.removeprefix("voice-"))], env), sink)
                    paced(
                        rate,
                        seconds,
                        sent_at,
                        lambda v: enqueue(target, [_document(v.removeprefix("voice-"))], env),
                    )
                    sink.wait_for(len(sent_at), timeout=60)
                finally:
                    for process in workers:
                        stop(process)
    finally:
        gc.enable()
        sink.server.shutdown()
    whole = [(arrived - sent_at[voice]) * 1000 for arrived, _, voice in sink.arrivals if voice in sent_at]
    cuts = statistics.quantiles(whole, n=100)
    return {"sent": len(sent_at), "p50_ms": cuts[49], "p99_ms": cuts[98]}


WARM_UP_SENDS = 20


def warm_up(send: Callable[[str], Any], sink: Sink) -> None:
    """The same few sends to every target before it is measured, 50 ms apart, so that what is
    timed is the running system and not each process's first connection and compiled statements."""
    for k in range(WARM_UP_SENDS):
        send(f"voice-warm-up-{k}")
        time.sleep(0.05)
    sink.wait_for(WARM_UP_SENDS, timeout=30)
    sink.arrivals.clear()


def paced(rate: float, seconds: float, sent_at: dict[str, float], send: Callable[[str], Any]) -> None:
    """Open loop from one thread: send k is due at k / rate, whatever the sends before it took."""
    started = time.monotonic()
    for k in range(int(rate * seconds)):
        time.sleep(max(0.0, started + k / rate - time.monotonic()))
        voice = f"voice-{k}"
        sent_at[voice] = time.time()
        send(voice)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--workers", default="1,2,4", help="worker processes, comma-separated")
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--latency-rate", type=float, default=100.0, help="callbacks/s")
    parser.add_argument("--only", action="append", choices=TARGETS, help="measure only these (repeat)")
    parser.add_argument("--postgres", default=POSTGRES_URL)
    parser.add_argument(
        "--redis", default="redis://127.0.0.1:6379/14", help="a database only the recipes use"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="each target once per round, in turn; medians over the rounds"
    )
    args = parser.parse_args()
    targets = args.only or TARGETS
    counts = [int(n) for n in args.workers.split(",")]
    rates: dict[str, dict[int, list[dict[str, Any]]]] = {t: {n: [] for n in counts} for t in targets}
    delays: dict[str, list[dict[str, float]]] = {t: [] for t in targets}
    for _ in range(args.rounds):
        for workers in counts:
            for target in targets:
                measured = throughput(target, workers, args.events, args.postgres, args.redis)
                rates[target][workers].append(measured)
                once = (
                    ""
                    if measured["arrived"] == measured["distinct"] == args.events
                    else (f" ({measured['arrived']} arrivals, {measured['distinct']} distinct)")
                )
                cpu = measured["cpu_ms"]
                print(
                    f"{target}, {workers} worker(s): {measured['rate']:.0f} deliveries/s{once};"
                    f" CPU ms per delivery: workers {cpu['workers']:.2f}, queue {cpu['queue']:.2f},"
                    f" sink {cpu['sink']:.2f}",
                    flush=True,
                )
        for target in targets:
            late = latency(target, args.latency_rate, args.latency_seconds, args.postgres, args.redis)
            delays[target].append(late)
            print(
                f"{target}: send → target p50 {late['p50_ms']:.1f}, p99 {late['p99_ms']:.1f} ms", flush=True
            )
    results: dict[str, Any] = {
        "events": args.events,
        "rounds": args.rounds,
        "throughput": {t: {n: _median_by(rates[t][n], "rate") for n in counts} for t in targets},
        "latency": {t: _median_by(delays[t], "p99_ms") for t in targets},
        "every_round": {"throughput": rates, "latency": delays},
    }
    print(table(results, targets, counts, args.latency_rate))
    out = Path(__file__).resolve().parent / "results" / "dispatch.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"date": datetime.now(UTC).isoformat(timespec="seconds"), **results}, indent=2))


def _median_by(measurements: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The measurement whose `key` is the median (the lower one of an even count)."""
    ordered = sorted(measurements, key=lambda m: m[key])
    return ordered[(len(ordered) - 1) // 2]


def table(results: dict[str, Any], targets: list[str], counts: list[int], rate: float) -> str:
    """The deliveries/s of each target, its ratio to the best recipe at the same N, latency, and
    the CPU a delivery cost at the first N (workers + queue's server + sink)."""
    best = {
        n: max((results["throughput"][t][n]["rate"] for t in targets if t not in PRODUCT), default=None)
        for n in counts
    }
    lines = [
        "| deliveries/s | "
        + " | ".join(f"N={n}" for n in counts)
        + f" | send → target p50 / p99 at {rate:g}/s | CPU ms per delivery at N={counts[0]} |",
        "|---|" + "---|" * (len(counts) + 2),
    ]
    for target in targets:
        cells = []
        for n in counts:
            measured = results["throughput"][target][n]["rate"]
            cells.append(
                f"{measured:.0f}" + (f" ({measured / best[n]:.2f})" if best[n] and target in PRODUCT else "")
            )
        late = results["latency"][target]
        cpu = results["throughput"][target][counts[0]]["cpu_ms"]
        lines.append(
            f"| {target} | " + " | ".join(cells) + f" | {late['p50_ms']:.1f} / {late['p99_ms']:.1f} ms"
            f" | {cpu['total']:.2f} ({cpu['workers']:.2f} + {cpu['queue']:.2f} + {cpu['sink']:.2f}) |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
