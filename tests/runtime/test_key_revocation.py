"""A key revoked in one place is refused by every web process within 2 seconds, its page
sessions included, with no restart or signal."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import wait_until
from tests.processes import Process, environment, free_port, run_cli, wait_for_http
from webhook_app.store import Store, migrate

pytestmark = pytest.mark.slow


def test_a_revoked_key_is_refused_by_two_web_processes_within_two_seconds(
    database_url: str, tmp_path: Path
) -> None:
    env = environment(database_url, tmp_path, log_format="text")
    store = Store.from_url(database_url)
    migrate.upgrade(store.engine)
    store.dispose()
    made = run_cli(["keys", "create", "--name", "contractor", "--role", "operator"], env, tmp_path)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    ports = [free_port(), free_port()]
    webs = [Process(["web", "--port", str(port), "--workers", "1"], env, tmp_path) for port in ports]
    browsers: list[httpx.Client] = []
    try:
        for port, web in zip(ports, webs, strict=True):
            wait_for_http(f"http://127.0.0.1:{port}", web)
        apis = [
            httpx.Client(base_url=f"http://127.0.0.1:{p}", headers={"Authorization": f"Bearer {key}"})
            for p in ports
        ]
        browsers = [httpx.Client(base_url=f"http://127.0.0.1:{p}") for p in ports]
        for api, browser in zip(apis, browsers, strict=True):
            assert api.get("/api/events").status_code == 200
            assert browser.post("/ui/login", data={"token": key}).status_code == 302
            assert "contractor · operator" in browser.get("/ui/routes").text
        revoked = run_cli(["keys", "revoke", "contractor"], env, tmp_path)
        assert revoked.returncode == 0, revoked.stderr
        at = time.monotonic()
        for api, browser in zip(apis, browsers, strict=True):
            wait_until(lambda a=api: a.get("/api/events").status_code == 401, timeout=10, interval=0.05)
            wait_until(lambda b=browser: b.get("/ui/routes").status_code == 302, timeout=10, interval=0.05)
        took = time.monotonic() - at
        assert took < 2.0, f"both processes refused the key {took:.2f} s after it was revoked"
        logs = "".join(web.output for web in webs) + made.stderr + revoked.stdout + revoked.stderr
        assert key.split("_", 2)[2] not in logs, "the key is in no log line"
        for api in apis:
            api.close()
    finally:
        for browser in browsers:
            browser.close()
        for web in webs:
            web.close()
