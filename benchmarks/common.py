"""What every benchmark script needs: local ports, `webhook-app` processes, a throw-away PostgreSQL schema."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import sqlalchemy as sa

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _processes() -> dict[int, tuple[int, str]]:
    """pid → (parent pid, command name) of every process still there."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                name, rest = (entry / "stat").read_text().rsplit(")", 1)
            except OSError:  # it ended meanwhile
                continue
            found[int(entry.name)] = (int(rest.split()[1]), name.split("(", 1)[1])
    return found


def cpu_of(pids: set[int]) -> float:
    total = 0.0
    for pid in pids:
        with suppress(OSError):  # it ended meanwhile
            total += cpu_seconds(pid)
    return total


def process_tree(root: int) -> set[int]:
    """`root` and all its descendants (a gunicorn master and its workers)."""
    processes, tree = _processes(), {root}
    while grown := {pid for pid, (parent, _) in processes.items() if parent in tree} - tree:
        tree |= grown
    return tree


def named(name: str) -> set[int]:
    """Every process with this command name (`postgres`: the server and its backends)."""
    return {pid for pid, (_, comm) in _processes().items() if comm == name}


def machine_ticks() -> tuple[int, int]:
    """The machine's idle and total CPU ticks so far: the idle share of a span is a ratio of two deltas."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return ticks[3] + ticks[4], sum(ticks)  # idle + iowait


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(command: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """A process in its own group (so `stop` ends its children too), output discarded."""
    return subprocess.Popen(
        command,
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def webhook_app(args: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.Popen[bytes]:
    return start([sys.executable, "-m", "webhook_app", *args], env, cwd)


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
    process.wait(30)


def wait_http(base: str, timeout: float = 30) -> None:
    """Until anything answers HTTP at `base`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{base} did not come up within {timeout:g} s")


@contextmanager
def postgres_schema(base: str = POSTGRES_URL) -> Iterator[str]:
    """A URL whose connections use a new schema, dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def rss_kib(pids: set[int], field: str = "VmRSS") -> dict[int, int]:
    """`VmRSS` (now) or `VmHWM` (the peak so far) of each process that still runs, in KiB."""
    sizes: dict[int, int] = {}
    for pid in pids:
        try:
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith(field + ":"):
                sizes[pid] = int(line.split()[1])
    return sizes


def trickle(base: str, request: bytes, every: float, answers: list[tuple[float, bytes]]) -> None:
    """Send `request` one byte every `every` seconds, then keep the answer and how long it took."""
    host, port = base.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=60) as conn:
        try:
            for byte in request:
                conn.sendall(bytes([byte]))
                time.sleep(every)
        except OSError:
            pass  # cut by the server: its answer is waiting
        try:
            answer = conn.recv(65536)
        except OSError as exc:
            answer = repr(exc).encode()
    answers.append((time.monotonic() - started, answer))


@contextmanager
def emptied(redis_url: str) -> Iterator[None]:
    """The benchmark's own Redis database, empty before a recipe runs and after."""
    import redis  # only the recipes' benchmarks need it (the `bench` extra)

    connection = redis.Redis.from_url(redis_url)
    connection.flushdb()
    try:
        yield
    finally:
        connection.flushdb()
        connection.close()
