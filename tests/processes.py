"""Start the real command-line processes (`webhook-app serve|web|worker`) for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.conftest import REPO, load_fixture, wait_until
from webhook_app.model.routes import Route
from webhook_app.providers.resemble import callbacks as resemble
from webhook_app.store import NewReceipt, Store, migrate
from webhook_app.usecases.ingest import record_events

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Process:
    """A `webhook-app` command in its own process group, so the test can kill all of it."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.log_path = cwd / f"{args[0]}-{len(list(cwd.glob(args[0] + '-*.log')))}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [str(BIN / "webhook-app"), *args],
            env=env,
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole group: no handler, no cleanup, as in a crash."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 20) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        self._log.close()


def environment(database_url: str, data_dir: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOK_APP_")}
    env.update(
        PYTHONPATH=str(REPO),
        WEBHOOK_APP_DATABASE_URL=database_url,
        WEBHOOK_APP_DATA_DIR=str(data_dir),
        WEBHOOK_APP_DISPATCH_POLL_INTERVAL="0.1",
    )
    env.update({f"WEBHOOK_APP_{k.upper()}": v for k, v in settings.items()})
    return env


def wait_for_http(url: str, process: Process, timeout: float = 60) -> None:
    """Until `process` answers `/healthz` (a start took over 20 s once, with the tests on two
    processes and another test's four workers busy on the same PostgreSQL)."""

    def up() -> bool:
        if process.proc.poll() is not None:
            raise AssertionError(f"process exited early:\n{process.output}")
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, timeout=timeout, interval=0.1)


def ingest_directly(database_url: str, routes: tuple[Route, ...]) -> str:
    """Record one dataset-issue event with deliveries for `routes`, as the web process would."""
    store = Store.from_url(database_url)
    migrate.upgrade(store.engine)
    now = datetime.now(UTC)
    receipt = NewReceipt(provider="resemble", received_at=now, body=b"{}", headers={})
    events = resemble.to_events(
        resemble.validate_callback(load_fixture("resemble_dataset_issue.json")),
        receipt_id=receipt.id,
        received_at=now,
    )
    record_events(store, routes, receipt, events, dedupe_key=None, dedupe_window=timedelta(0))
    store.dispose()
    return events[0].id


def sink_routes_config(folder: Path, **routes: str) -> Path:
    """A config file with one `tests.sink_handlers:SinkHandler` route per name=URL."""
    path = folder / "routes.toml"
    path.write_text(
        "".join(
            f'[[routes]]\nname = "{name}"\nhandler = "tests.sink_handlers:SinkHandler"\n'
            f'[routes.options]\nurl = "{url}"\n'
            for name, url in routes.items()
        )
    )
    return path


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run one `webhook-app` command to completion (it must finish within 30 s)."""
    return subprocess.run(
        [str(BIN / "webhook-app"), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
