"""Bounded load generation on loopback: wrk when installed, else a Python generator.

Every request posts a realistic `dataset_issue` callback (about 1.5 KB) with a new voice
id, so the service records a new event each time (no duplicates).
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass

from webhook_app.providers.resemble.samples import resemble_callback

WRK_SCRIPT = r"""
-- Each wrk thread has its own Lua state with the same random seed: without the thread's
-- number in the id, the threads would send the same bodies (duplicates, not new events).
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end
local counter = 0
local template = [[%s]]
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  local body = template:gsub("VOICE_ID", string.format("%%d-%%d-%%d", thread_number, os.time(), counter))
  return wrk.format(nil, nil, nil, body)
end
"""


@dataclass
class LoadResult:
    tool: str
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def body_template() -> str:
    return json.dumps(resemble_callback("dataset_issue", "VOICE_ID"))


def run(url: str, *, connections: int = 32, seconds: float = 10.0) -> LoadResult:
    if shutil.which("wrk"):
        return _wrk(url, connections, seconds)
    return _python(url, connections, seconds)


def _wrk(url: str, connections: int, seconds: float) -> LoadResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % body_template())
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{int(seconds)}s", "--latency", "-s", script.name, url],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    ).stdout  # fmt: skip
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))

    def quantile(q: str) -> float:
        value, unit = re.search(rf"\s{q}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return LoadResult("wrk", requests, seconds, errors, quantile("50"), quantile("99"))


def _python(url: str, connections: int, seconds: float) -> LoadResult:
    """One thread per connection, new connection per request (sync gunicorn workers close them)."""
    host_port, path = url.removeprefix("http://").split("/", 1)
    host, port = host_port.split(":")
    template = body_template()
    latencies: list[float] = []
    errors = [0]
    deadline = time.monotonic() + seconds
    lock = threading.Lock()

    def worker() -> None:
        mine: list[float] = []
        failed = 0
        while time.monotonic() < deadline:
            body = template.replace("VOICE_ID", uuid.uuid4().hex)
            started = time.perf_counter()
            try:
                conn = http.client.HTTPConnection(host, int(port), timeout=10)
                conn.request("POST", "/" + path, body, {"Content-Type": "application/json"})
                status = conn.getresponse().status
                conn.close()
            except OSError:
                status = 0
            mine.append(time.perf_counter() - started)
            failed += not 200 <= status < 300
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cuts = statistics.quantiles(latencies, n=100)
    return LoadResult("python", len(latencies), seconds, errors[0], cuts[49] * 1000, cuts[98] * 1000)
