"""Fault drills: kill things under load and count what was lost (it must be nothing).

    python benchmarks/drills.py [--seconds 4] [--duplicates 10000] [--database-url POSTGRESQL_URL]

1. web SIGKILL under load: every request that got a 2xx must be in the store.
2. duplicates: the same callback N times yields exactly one event.
3. sink outage: the target answers 500 for a while, then recovers; every delivery ends succeeded.
4. worker SIGKILL under load: callbacks keep arriving while two workers deliver them; one
   is killed half-way; every event must reach the sink at least once (repeats are counted).
5. slow clients: N connections trickle a request one byte at a time while normal traffic
   is timed; normal requests must stay under a second, every slow one is cut with 408.
   The same against gunicorn's sync workers is printed as the reference.
6. amplification: the worst 1 MiB callback (350k empty recordings) through `serve` with a
   forward route; every copy of the event must stay under 3 MiB, every process grow < 100 MB.
7. unauthenticated bodies: 300 connections hold 1 MiB bodies to a wrong token; each is
   answered 404 unread, and the service grows by less than 50 MB.
8. connection flood: 2,000 idle or one-byte sockets; /healthz and callbacks answered < 1 s.
9. admin reads during callbacks: four admins list 1 MiB dataset issues and read a voice's
   timeline in a loop; callbacks keep a p99 under 500 ms.

Each drill prints its counts; the script exits 1 if any count is wrong. Traffic goes only
to 127.0.0.1. tests/runtime/test_drills.py runs the same drills at small sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import (  # noqa: E402
    free_port,
    postgres_schema,
    process_tree,
    rss_kib,
    start,
    stop,
    trickle,
    wait_http,
    webhook_app,
)
from tests.sink import Received, Reply, Sink  # noqa: E402
from webhook_app.providers.resemble.samples import resemble_callback
from webhook_app.store import EventFilters, Store, migrate

TOKEN = "drill-token-0123456789abcdefghijklmn"  # noqa: S105 - a callback token for a throw-away local instance


@dataclass
class DrillResult:
    name: str
    counts: Mapping[str, float]
    ok: bool

    def line(self) -> str:
        figures = ", ".join(f"{k} {v}" for k, v in self.counts.items())
        return f"{'PASS' if self.ok else 'FAIL'}  {self.name}: {figures}"


def _env(database_url: str, folder: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOK_APP_")}
    env |= {
        "WEBHOOK_APP_DATABASE_URL": database_url,
        "WEBHOOK_APP_DATA_DIR": str(folder),
        "WEBHOOK_APP_RESEMBLE_TOKENS": TOKEN,
        "WEBHOOK_APP_ADMIN_TOKENS": "drill-admin-0123456789abcdefghijklmn",
        "WEBHOOK_APP_LOG_LEVEL": "WARNING",
        "WEBHOOK_APP_DISPATCH_POLL_INTERVAL": "0.1",
    }
    return env | extra


def web_killed_under_load(
    database_url: str, folder: Path, seconds: float = 4.0, connections: int = 16
) -> DrillResult:
    env = _env(database_url, folder)
    store = Store.from_url(database_url)
    migrate.upgrade(store.engine)
    port = free_port()
    web = webhook_app(["web", "--port", str(port), "--workers", "2"], env, folder)
    base = f"http://127.0.0.1:{port}"
    wait_http(base)
    acknowledged: list[str] = []
    failures = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(timeout=5) as http:
            while time.monotonic() < deadline:
                try:
                    answer = http.post(
                        f"{base}/hooks/resemble/{TOKEN}", json=resemble_callback("dataset_issue")
                    )
                except httpx.HTTPError:
                    with lock:
                        failures[0] += 1
                    continue
                if 200 <= answer.status_code < 300:
                    with lock:
                        acknowledged.extend(answer.json()["event_ids"])

    threads = [threading.Thread(target=client) for _ in range(connections)]
    for thread in threads:
        thread.start()
    time.sleep(seconds / 2)
    stop(web, signal.SIGKILL)  # mid-load, no warning
    for thread in threads:
        thread.join()
    stored = {e["id"] for e in _all_events(store)}
    missing = len(set(acknowledged) - stored)
    store.dispose()
    counts = {"acknowledged": len(acknowledged), "missing": missing, "refused after the kill": failures[0]}
    return DrillResult("web SIGKILL under load", counts, ok=missing == 0 and len(acknowledged) > 0)


def duplicates(database_url: str, folder: Path, total: int = 10_000, connections: int = 32) -> DrillResult:
    env = _env(database_url, folder)
    store = Store.from_url(database_url)
    migrate.upgrade(store.engine)
    port = free_port()
    web = webhook_app(["web", "--port", str(port), "--workers", "4"], env, folder)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base)
        body = resemble_callback("dataset_issue", f"dup-{uuid.uuid4().hex}")
        limits = httpx.Limits(max_connections=connections)
        url = f"{base}/hooks/resemble/{TOKEN}"
        with httpx.Client(timeout=10, limits=limits) as http, ThreadPoolExecutor(connections) as pool:
            statuses = list(pool.map(lambda _: http.post(url, json=body).status_code, range(total)))
    finally:
        stop(web)
    events = len(store.reads.list_events(EventFilters(voice_id=body["id"]), limit=10)[0])
    store.dispose()
    counts = {
        "sent": total,
        "202": statuses.count(202),
        "200 duplicate": statuses.count(200),
        "events": events,
    }
    return DrillResult("identical callbacks", counts, ok=events == 1 and statuses.count(202) == 1)


def _forward_route(folder: Path, sink: Sink, retry: str = "", keys: str = "") -> Path:
    """A config file with one signed `forward` route to `sink` (`keys`: more route keys, as TOML lines)."""
    config = folder / "routes.toml"
    config.write_text(
        '[[routes]]\nname = "partner"\nhandler = "forward"\n' + (f"retry = {retry}\n" if retry else "") + keys
        + f'[routes.options]\nurl = "{sink.url}/in"\n'
        'secret = "whsec_ZHJpbGwtc2VjcmV0LTAxMjM0NTY3ODk="\nallow_private_targets = true\n'
    )  # fmt: skip
    return config


def sink_outage(
    database_url: str, folder: Path, events: int = 50, outage_seconds: float = 3.0
) -> DrillResult:
    sink = Sink()

    def respond(request: Received) -> Reply:
        """500 for `outage_seconds` from the first request, then 200."""
        return Reply(500 if request.at < sink.requests[0].at + outage_seconds else 200)

    sink.respond = respond
    retry = "{ max_attempts = 20, base_seconds = 0.5, factor = 2, max_seconds = 2 }"
    # The outage pauses the route (20 failures in a row); a probe every second finds the sink back.
    keys = "probe_seconds = 1\n"
    env = _env(database_url, folder, WEBHOOK_APP_CONFIG=str(_forward_route(folder, sink, retry, keys)))
    store = Store.from_url(database_url)
    migrate.upgrade(store.engine)
    port = free_port()
    web = webhook_app(["web", "--port", str(port), "--workers", "2"], env, folder)
    worker = webhook_app(["worker"], env, folder)
    try:
        wait_http(f"http://127.0.0.1:{port}")
        for _ in range(events):
            httpx.post(
                f"http://127.0.0.1:{port}/hooks/resemble/{TOKEN}", json=resemble_callback("dataset_issue")
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and store.reads.delivery_status_counts() != {"succeeded": events}:
            time.sleep(0.25)
        finished = store.reads.delivery_status_counts()
    finally:
        stop(web)
        stop(worker)
        sink.close()
        store.dispose()
    failed = sum(r.at < sink.requests[0].at + outage_seconds for r in sink.requests)
    counts = {"events": events, "sink 500s": failed, "succeeded": finished.get("succeeded", 0),
              "not succeeded": events - finished.get("succeeded", 0)}  # fmt: skip
    return DrillResult("sink outage then recovery", counts, ok=counts["not succeeded"] == 0 and failed > 0)


def worker_killed_under_load(database_url: str, folder: Path, events: int = 1000) -> DrillResult:
    sink = Sink()

    def arrivals() -> list[str]:
        return [request.json()["id"] for request in list(sink.requests)]

    # A short lease, so the killed worker's deliveries are taken over within seconds.
    env = _env(database_url, folder, WEBHOOK_APP_CONFIG=str(_forward_route(folder, sink)),
               WEBHOOK_APP_LEASE_SECONDS="5")  # fmt: skip
    store = Store.from_url(database_url)
    migrate.upgrade(store.engine)
    port = free_port()
    web = webhook_app(["web", "--port", str(port), "--workers", "2"], env, folder)
    workers = [webhook_app(["worker"], env, folder) for _ in range(2)]
    accepted: list[str] = []
    try:
        wait_http(f"http://127.0.0.1:{port}")

        def send(n: int) -> None:
            callback = resemble_callback("dataset_issue", f"voice-{n}")
            answer = httpx.post(f"http://127.0.0.1:{port}/hooks/resemble/{TOKEN}", json=callback, timeout=30)
            answer.raise_for_status()
            accepted.extend(answer.json()["event_ids"])

        with ThreadPoolExecutor(8) as pool:
            sent = [pool.submit(send, n) for n in range(events)]
            half_way = time.monotonic() + 120
            while len(set(arrivals())) < events // 2 and time.monotonic() < half_way:
                time.sleep(0.01)
            stop(workers[0], signal.SIGKILL)
            for future in sent:
                future.result()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not set(accepted) <= set(arrivals()):
            time.sleep(0.25)
    finally:
        stop(web)
        for worker in workers:
            stop(worker)
        sink.close()
        store.dispose()
    arrived = arrivals()
    missing = len(set(accepted) - set(arrived))
    counts = {"accepted": len(accepted), "reached the sink": len(set(arrived) & set(accepted)),
              "missing": missing, "repeats": len(arrived) - len(set(arrived))}  # fmt: skip
    return DrillResult("worker SIGKILL under load", counts, ok=missing == 0 and len(accepted) == events)


SLOW_BODY = b'{"id": "slow-voice", "status": "finished"}'
SLOW_HEAD = (
    f"POST /hooks/resemble/{TOKEN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    f"Content-Length: {len(SLOW_BODY)}\r\n\r\n"
).encode()


def slow_clients(
    database_url: str, folder: Path, clients: int = 50, seconds: float = 6.0, worker_class: str | None = None
) -> DrillResult:
    """N connections send a request one byte every 0.2 s, while normal traffic is timed.

    `worker_class="sync"` runs the same against gunicorn's sync workers, the reference the
    evented worker was chosen against (there every slow client holds a worker).
    """
    env = _env(database_url, folder, WEBHOOK_APP_REQUEST_TIMEOUT="3s")
    store = Store.from_url(database_url)
    migrate.upgrade(store.engine)
    store.dispose()
    port = free_port()
    if worker_class is None:
        web = webhook_app(["web", "--port", str(port), "--workers", "2"], env, folder)
    else:
        gunicorn = [sys.executable, "-m", "gunicorn", "--workers", "2", "--worker-class", worker_class]
        web = start([*gunicorn, "--bind", f"127.0.0.1:{port}", "webhook_app:create_app()"], env, folder)
    base = f"http://127.0.0.1:{port}"
    answers: list[tuple[float, bytes]] = []
    latencies: list[float] = []
    try:
        wait_http(base)
        slow = [
            threading.Thread(target=trickle, args=(base, SLOW_HEAD + SLOW_BODY, 0.2, answers), daemon=True)
            for _ in range(clients)
        ]
        for thread in slow:
            thread.start()
        time.sleep(0.5)
        deadline = time.monotonic() + seconds
        with httpx.Client(timeout=30) as http:
            while time.monotonic() < deadline:
                started = time.monotonic()
                with suppress(httpx.HTTPError):  # a timeout counts as its full wait
                    http.post(f"{base}/hooks/resemble/{TOKEN}", json=resemble_callback("finished"))
                latencies.append(time.monotonic() - started)
        for thread in slow:
            thread.join(60)
    finally:
        stop(web)
    latencies.sort()
    cut = sum(answer.startswith(b"HTTP/1.1 408") for _, answer in answers)
    counts = {
        "slow clients": clients,
        "cut with 408": cut,
        "normal requests": len(latencies),
        "p50 ms": round(1000 * latencies[len(latencies) // 2]),
        "p99 ms": round(1000 * latencies[int(len(latencies) * 0.99)]),
        "max ms": round(1000 * latencies[-1]),
    }
    name = f"slow clients ({worker_class or 'webhook-app web'})"
    if worker_class is not None:  # a reference: it shows the failure, it is not expected to pass
        return DrillResult(name + ", reference", counts, ok=True)
    return DrillResult(name, counts, ok=cut == clients and latencies[-1] < 1.0)


def amplification(database_url: str, folder: Path) -> DrillResult:
    """The worst 1 MiB callback (350k empty recordings) through `serve` with a forward route:
    peak memory growth of every process, and the size of each copy of the event."""
    sink = Sink()
    env = _env(database_url, folder, WEBHOOK_APP_CONFIG=str(_forward_route(folder, sink)))
    port = free_port()
    serve = webhook_app(["serve", "--port", str(port)], env, folder)
    base = f"http://127.0.0.1:{port}"
    body = b'{"id": "amplified", "status": "dataset_issue", "recordings": [{}' + b",{}" * 349_000 + b"]}"
    try:
        wait_http(base)
        pids = process_tree(serve.pid)
        before = rss_kib(pids)
        with httpx.Client(base_url=base, timeout=60) as http:
            answer = http.post(
                f"/hooks/resemble/{TOKEN}", content=body, headers={"Content-Type": "application/json"}
            )
            event_id = answer.json()["event_ids"][0]
            deadline = time.monotonic() + 60
            while not sink.requests and time.monotonic() < deadline:
                time.sleep(0.1)
            api = http.get(
                f"/api/events/{event_id}",
                headers={"Authorization": "Bearer drill-admin-0123456789abcdefghijklmn"},
            )
            http.post("/ui/login", data={"token": "drill-admin-0123456789abcdefghijklmn"})
            page = http.get(f"/ui/events/{event_id}")
        peaks = rss_kib(pids, "VmHWM")
    finally:
        stop(serve)
        sink.close()
    growth = max((peaks[pid] - before[pid]) / 1024 for pid in before if pid in peaks)
    mib = 2**20
    counts = {
        "body KiB": len(body) // 1024,
        "API answer KiB": len(api.content) // 1024,
        "page KiB": len(page.content) // 1024,
        "forward POST KiB": len(sink.requests[0].body) // 1024 if sink.requests else -1,
        "largest process growth MiB": round(growth),
    }
    small = all(0 <= n * 1024 < 3 * mib for n in list(counts.values())[1:4])
    return DrillResult("worst 1 MiB callback", counts, ok=small and growth < 100)


ADMIN = "drill-admin-0123456789abcdefghijklmn"  # noqa: S105 - an admin token for a throw-away local instance


def _serve(database_url: str, folder: Path, *args: str, **extra: str) -> tuple[Any, str]:
    port = free_port()
    serve = webhook_app(["serve", "--port", str(port), *args], _env(database_url, folder, **extra), folder)
    base = f"http://127.0.0.1:{port}"
    wait_http(base)
    return serve, base


def _percentiles(latencies: list[float]) -> dict[str, int]:
    latencies = sorted(latencies)
    return {
        "p50 ms": round(1000 * latencies[len(latencies) // 2]),
        "p99 ms": round(1000 * latencies[int(len(latencies) * 0.99)]),
        "max ms": round(1000 * latencies[-1]),
    }


def _hold_body(base: str, head: bytes, body: bytes, hold: threading.Event, answers: list[bytes]) -> None:
    """Send a request whose body stops one byte short and keep it open until `hold` is set."""
    host, port = base.removeprefix("http://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=30) as conn:
            with suppress(OSError):  # refused before the body: the answer is waiting
                conn.sendall(head + body[:-1])
            hold.wait(30)
            conn.settimeout(1)
            answers.append(conn.recv(65536))
    except OSError as exc:
        answers.append(repr(exc).encode())


def unauthenticated_bodies(database_url: str, folder: Path, connections: int = 300) -> DrillResult:
    """N connections each send 1 MiB (less one byte) to a wrong token and hold on: the service
    must answer each 404 without reading the body, and grow by less than 50 MB in all."""
    serve, base = _serve(database_url, folder)
    body = b"x" * 2**20
    head = (
        "POST /hooks/resemble/not-a-token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    answers: list[bytes] = []
    hold = threading.Event()
    try:
        pids = process_tree(serve.pid)
        before = sum(rss_kib(pids).values())
        senders = [
            threading.Thread(target=_hold_body, args=(base, head, body, hold, answers), daemon=True)
            for _ in range(connections)
        ]
        for thread in senders:
            thread.start()
        time.sleep(3)
        peak = sum(rss_kib(pids, "VmHWM").values())
        started = time.monotonic()
        health = httpx.get(f"{base}/healthz", timeout=10).status_code
        health_ms = round(1000 * (time.monotonic() - started))
        hold.set()
        for thread in senders:
            thread.join(60)
    finally:
        stop(serve)
    growth = (peak - before) / 1024
    counts = {
        "connections": connections,
        "answered 404": sum(answer.startswith(b"HTTP/1.1 404") for answer in answers),
        "service growth MiB": round(growth),
        "healthz ms": health_ms,
    }
    ok = counts["answered 404"] == connections and growth < 50 and health == 200
    return DrillResult("1 MiB bodies to a wrong token", counts, ok=ok)


def connection_flood(database_url: str, folder: Path, sockets: int = 2000, probes: int = 20) -> DrillResult:
    """N sockets open at once, half idle and half with one byte of a request sent, while
    /healthz and valid callbacks are timed: each must be answered within a second."""
    serve, base = _serve(database_url, folder)
    host, port = base.removeprefix("http://").split(":")
    flood: list[socket.socket] = []
    latencies: list[float] = []
    try:
        pids = process_tree(serve.pid)
        before = sum(rss_kib(pids).values())
        for n in range(sockets):
            conn = socket.create_connection((host, int(port)), timeout=10)
            if n % 2:
                conn.sendall(b"P")
            flood.append(conn)
        time.sleep(0.5)
        with httpx.Client(base_url=base, timeout=30) as http:
            for _ in range(probes):
                started = time.monotonic()
                with suppress(httpx.HTTPError):  # a timeout counts as its full wait
                    http.get("/healthz")
                    http.post(f"/hooks/resemble/{TOKEN}", json=resemble_callback("finished"))
                latencies.append(time.monotonic() - started)
        held = sum(rss_kib(pids).values())
    finally:
        for conn in flood:
            conn.close()
        stop(serve)
    counts = {
        "open sockets": sockets,
        **_percentiles(latencies),
        "memory per socket KiB": round((held - before) / sockets, 1),
    }
    return DrillResult("connection flood", counts, ok=max(latencies) < 1.0)


def _large_dataset_issue(voice_id: str, recordings: int = 1000) -> bytes:
    """A dataset-issue callback of about 1 MiB: `recordings` takes with 850-character transcripts."""
    takes = [
        {"uuid": str(uuid.uuid4()), "name": f"take_{n:04d}.wav", "transcript": "a long line of script " * 36,
         "stoi_score": 0.5, "pesq_score": 2.1, "si_sdr_score": 9.5, "resemble_sample_score": 0.4,
         "is_active": True, "is_outlier": n % 7 == 0, "is_silent": False}
        for n in range(recordings)
    ]  # fmt: skip
    body = {
        "id": voice_id,
        "status": "dataset_issue",
        "ok": False,
        "issue": "noisy takes",
        "recordings": takes,
    }
    return json.dumps(body).encode()


def admin_reads_during_callbacks(
    database_url: str, folder: Path, events: int = 60, admins: int = 4, seconds: float = 8.0
) -> DrillResult:
    """`events` dataset issues of about 1 MiB each are stored; then `admins` threads list events
    (60 a page) and read the voice's timeline in a loop while callbacks are timed. A callback
    must never wait long behind an admin read (p99 under 500 ms)."""
    serve, base = _serve(database_url, folder)
    callback_latencies: list[float] = []
    admin_latencies: list[float] = []
    stop_reading = threading.Event()
    headers = {"Authorization": f"Bearer {ADMIN}"}

    def read() -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as admin:
            while not stop_reading.is_set():
                for path in ("/api/events?limit=60", "/api/voices/resemble/big-voice"):
                    started = time.monotonic()
                    assert admin.get(path).status_code == 200
                    admin_latencies.append(time.monotonic() - started)

    try:
        with httpx.Client(base_url=base, timeout=60) as http:
            for n in range(events):
                answer = http.post(
                    f"/hooks/resemble/{TOKEN}",
                    content=_large_dataset_issue("big-voice" if n % 2 else f"big-voice-{n}"),
                    headers={"Content-Type": "application/json"},
                )
                assert answer.status_code == 202, answer.text
            readers = [threading.Thread(target=read, daemon=True) for _ in range(admins)]
            for thread in readers:
                thread.start()
            time.sleep(1)
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                started = time.monotonic()
                with suppress(httpx.HTTPError):  # a timeout counts as its full wait
                    http.post(f"/hooks/resemble/{TOKEN}", json=resemble_callback("finished"))
                callback_latencies.append(time.monotonic() - started)
                time.sleep(0.02)
            stop_reading.set()
            for thread in readers:
                thread.join(120)
    finally:
        stop_reading.set()
        stop(serve)
    counts = {
        "large events": events,
        "admin reads": len(admin_latencies),
        "admin p50 ms": _percentiles(admin_latencies)["p50 ms"] if admin_latencies else -1,
        "callbacks": len(callback_latencies),
        **{f"callback {k}": v for k, v in _percentiles(callback_latencies).items()},
    }
    return DrillResult("admin reads during callbacks", counts, ok=counts["callback p99 ms"] < 500)


def _all_events(store: Store) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page, cursor = store.reads.list_events(EventFilters(), limit=500, cursor=cursor)
        items += page
        if cursor is None:
            return items


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--duplicates", type=int, default=10_000)
    parser.add_argument(
        "--database-url", help="PostgreSQL: each drill gets a new schema in it (default: a new SQLite file)"
    )
    parser.add_argument("--slow-clients", type=int, default=50)
    args = parser.parse_args()
    results = []
    for drill, kwargs in (
        (web_killed_under_load, {"seconds": args.seconds}),
        (duplicates, {"total": args.duplicates}),
        (sink_outage, {}),
        (worker_killed_under_load, {}),
        (slow_clients, {"clients": args.slow_clients}),
        (slow_clients, {"clients": args.slow_clients, "worker_class": "sync"}),
        (amplification, {}),
        (unauthenticated_bodies, {}),
        (connection_flood, {}),
        (admin_reads_during_callbacks, {}),
    ):
        folder = Path(tempfile.mkdtemp(prefix="webhook-app-drill-"))
        # Each drill counts what the whole store holds, so each starts from an empty one.
        if args.database_url:
            with postgres_schema(args.database_url) as url:
                result = drill(url, folder, **kwargs)
        else:
            result = drill(f"sqlite:///{folder / 'events.db'}", folder, **kwargs)
        print(result.line(), flush=True)
        results.append(result)
    out = Path(__file__).resolve().parent / "results" / "drills.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps([vars(r) for r in results], indent=2))
    sys.exit(0 if all(r.ok for r in results) else 1)


if __name__ == "__main__":
    main()
