"""Delivery throughput with 1, 2 and 4 workers on PostgreSQL, and callback-to-handler latency.

    python benchmarks/dispatch.py [--events 2000] [--latency-seconds 10] [--latency-rate R]

Throughput: N stored events, each with one delivery to a local HTTP sink; K worker
processes (8 threads each) deliver them all; events/s from the first to the last arrival.
The floor is the same sink driven by the same number of threads posting the same
CloudEvents with no database (the most any dispatcher could do here). Latency: callbacks
posted to `webhook-app web` at half the 4-worker rate (or at `--latency-rate`, to compare
two versions of the code at the same load); latency = the sink's arrival time minus the
time the callback was sent (both on this host's clock). Writes results/dispatch.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import POSTGRES_URL, free_port, postgres_schema, stop, wait_http, webhook_app  # noqa: E402
from webhook_app.model.events import Event, EventData, EventType
from webhook_app.model.routes import Route
from webhook_app.providers.resemble.samples import resemble_callback
from webhook_app.store import NewReceipt, Store, migrate
from webhook_app.usecases.ingest import record_events

THREADS = 8
SENDERS = 8  # one sender thread reached only ~67 callbacks/s; eight share the schedule
ROUTES = (Route(name="sink", handler="forward"),)
SECRET = "whsec_ZGlzcGF0Y2gtYmVuY2gtc2VjcmV0"  # noqa: S105 - a throw-away signing key for a local sink


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the stdlib's 5 resets connections under 32 concurrent clients


class Sink:
    """Counts arrivals and keeps (arrival wall time, CloudEvent time, voice id) for each."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, str, str]] = []
        lock = threading.Lock()
        arrivals = self.arrivals

        class Handler(BaseHTTPRequestHandler):
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


def floor_rate(events: list[Event], threads: int) -> float:
    """The sink driven directly: the same CloudEvents, the same number of threads, no database."""
    sink = Sink()
    with httpx.Client(timeout=10) as http, ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda e: http.post(sink.url, json=e.to_cloudevent()), events))
    rate = sink.rate(len(events))
    sink.server.shutdown()
    return rate


def throughput(base: str, workers: int, count: int) -> tuple[float, float]:
    with postgres_schema(base) as url:
        return _throughput(url, workers, count)


def _throughput(url: str, workers: int, count: int) -> tuple[float, float]:
    folder = Path(tempfile.mkdtemp(prefix="webhook-app-dispatch-"))
    store = Store.from_url(url)
    migrate.upgrade(store.engine)
    events = seed(store, count)
    sink = Sink()
    env = environment(url, folder, sink)
    processes = [webhook_app(["worker"], env) for _ in range(workers)]
    try:
        sink.wait_for(count, timeout=300)
    finally:
        for process in processes:
            stop(process)
        sink.server.shutdown()
        store.dispose()
    return sink.rate(count), floor_rate(events, workers * THREADS)


def latency(base: str, rate: float, seconds: float) -> dict[str, float]:
    with postgres_schema(base) as url:
        return _latency(url, rate, seconds)


def _latency(url: str, rate: float, seconds: float) -> dict[str, float]:
    """Callback → handler: from the moment each callback is sent to its arrival at the sink.

    Also split at the receipt's time: before it the callback waited in the web server
    (arriving, queued for a turn), after it the service stored and delivered it. Where the
    server stamps the receipt moved with its design, so only the whole span compares across
    versions of the code."""
    folder = Path(tempfile.mkdtemp(prefix="webhook-app-latency-"))
    store = Store.from_url(url)
    migrate.upgrade(store.engine)
    store.dispose()
    sink = Sink()
    env = environment(url, folder, sink)
    port = free_port()
    web = webhook_app(["web", "--port", str(port), "--workers", "2"], env)
    workers = [webhook_app(["worker"], env) for _ in range(4)]
    sent = [0] * SENDERS
    sent_at: dict[str, float] = {}
    answered: list[float] = []
    try:
        wait_http(f"http://127.0.0.1:{port}")
        started = time.monotonic()

        def sender(number: int) -> None:
            """Open loop: callback k of all senders is due at k / rate, whatever the answers take."""
            with httpx.Client(timeout=10) as http:
                while True:
                    due = started + (number + sent[number] * SENDERS) / rate
                    if due - started >= seconds:
                        return
                    time.sleep(max(0.0, due - time.monotonic()))
                    voice_id = f"voice-{number}-{sent[number]}"
                    sent_at[voice_id] = time.time()
                    http.post(
                        f"http://127.0.0.1:{port}/hooks/resemble/bench-token-0123456789abcdefghijklmn",
                        json=resemble_callback("finished", voice_id),
                    )
                    answered.append((time.time() - sent_at[voice_id]) * 1000)
                    sent[number] += 1

        with ThreadPoolExecutor(SENDERS) as pool:
            list(pool.map(sender, range(SENDERS)))
        achieved = sum(sent) / (time.monotonic() - started)
        sink.wait_for(sum(sent), timeout=60)
    finally:
        for process in (web, *workers):
            stop(process)
        sink.server.shutdown()
    whole = [(arrived - sent_at[voice_id]) * 1000 for arrived, _, voice_id in sink.arrivals]
    from_receipt = [
        (arrived - datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()) * 1000
        for arrived, at, _ in sink.arrivals
    ]
    cuts, receipt_cuts, answer_cuts = (
        statistics.quantiles(ms, n=100) for ms in (whole, from_receipt, answered)
    )
    return {
        "sent": sum(sent), "achieved_rate": achieved, "p50_ms": cuts[49], "p99_ms": cuts[98],
        "from_receipt_p50_ms": receipt_cuts[49], "from_receipt_p99_ms": receipt_cuts[98],
        "answer_p50_ms": answer_cuts[49], "answer_p99_ms": answer_cuts[98],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--latency-rate", type=float, help="callbacks/s (default: half the 4-worker rate)")
    parser.add_argument("--postgres", default=POSTGRES_URL)
    args = parser.parse_args()
    results: dict[str, Any] = {"throughput": {}}
    print("| workers | delivered/s | floor/s (same threads, no database) | ratio |\n|---|---|---|---|")
    for workers in (1, 2, 4):
        rate, floor = throughput(args.postgres, workers, args.events)
        results["throughput"][workers] = {"rate": rate, "floor": floor, "ratio": rate / floor}
        print(f"| {workers} | {rate:.0f} | {floor:.0f} | {rate / floor:.2f} |", flush=True)
    aim = args.latency_rate or results["throughput"][4]["rate"] / 2
    measured = latency(args.postgres, aim, args.latency_seconds)
    results["latency"] = {"rate": aim, **measured}
    print(
        f"\ncallback → handler aiming at {aim:.0f}/s, sent {measured['achieved_rate']:.0f}/s"
        f" ({measured['sent']} callbacks, 4 workers):"
        f" p50 {measured['p50_ms']:.0f}, p99 {measured['p99_ms']:.0f} ms"
        f"\n  the 202: p50 {measured['answer_p50_ms']:.0f}, p99 {measured['answer_p99_ms']:.0f} ms;"
        f" from the receipt's time to the handler: p50 {measured['from_receipt_p50_ms']:.0f},"
        f" p99 {measured['from_receipt_p99_ms']:.0f} ms"
    )
    out = Path(__file__).resolve().parent / "results" / "dispatch.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"date": datetime.now(UTC).isoformat(timespec="seconds"), **results}, indent=2))


if __name__ == "__main__":
    main()
