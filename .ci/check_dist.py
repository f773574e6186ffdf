"""The wheel and the sdist, built with `python -m build`, each install into an empty virtual
environment, migrate a new database and serve `/healthz`: what a production install does."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def check(artifact: Path, work: Path) -> None:
    venv = work / f"venv-{artifact.suffix.strip('.')}"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(artifact)], check=True)
    data = work / f"data-{artifact.suffix.strip('.')}"
    data.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOK_APP_")} | {
        "WEBHOOK_APP_DATA_DIR": str(data),
        "WEBHOOK_APP_DATABASE_URL": f"sqlite:///{data / 'webhook_app.db'}",
        "PYTHONPATH": "",
    }
    app = str(venv / "bin" / "webhook-app")
    subprocess.run([app, "db", "upgrade"], check=True, env=env, cwd=data)
    for group in ("resemble", "azure"):  # providers' command groups, found through their entry points
        subprocess.run([app, group, "--help"], check=True, env=env, cwd=data, stdout=subprocess.DEVNULL)
    port = free_port()
    serve = subprocess.Popen([app, "serve", "--port", str(port)], env=env, cwd=data, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        break
            except OSError:
                if serve.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{artifact.name}: serve did not answer /healthz") from None
                time.sleep(0.5)
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(40)
    print(f"{artifact.name}: installed, migrated, providers' commands found, served /healthz")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        subprocess.run([sys.executable, "-m", "build", "--outdir", str(work / "dist"), str(REPO)],
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        for artifact in sorted((work / "dist").iterdir()):
            check(artifact, work)


if __name__ == "__main__":
    main()
