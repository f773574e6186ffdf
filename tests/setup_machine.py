"""What the tests need from the machine, found or made by the test command itself.

- PostgreSQL: the server at `TEST_DATABASE_URL` (default: the local one on 5432, database
  `test`); where none answers, a throw-away server started from the installed binaries in
  a temporary folder, stopped when the tests end.
- Chromium for the browser test: Debian's package.
Missing Debian packages (PostgreSQL's binaries, Chromium) are installed with apt when the
tests run as root (a fresh machine or CI); otherwise a message says what to run.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import sqlalchemy as sa

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    """A PostgreSQL URL that answers, starting a throw-away server when needed."""
    url = os.environ.get("TEST_DATABASE_URL") or DEFAULT_URL
    if _answers(url):
        return url
    return _throw_away_server(sa.engine.make_url(url).database or "test")


def _answers(url: str) -> bool:
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return True
    except sa.exc.SQLAlchemyError:
        return False
    finally:
        engine.dispose()


def _binaries() -> Path:
    found = installed_binaries()
    if found is None and _apt_install("postgresql"):
        found = installed_binaries()
    if found is None:
        raise RuntimeError(
            "No PostgreSQL answers at TEST_DATABASE_URL (or 127.0.0.1:5432) and no PostgreSQL binaries "
            "were found to start one: install PostgreSQL (Debian: apt-get install postgresql) "
            "or set TEST_DATABASE_URL."
        )
    return found


def installed_binaries() -> Path | None:
    """The folder of PostgreSQL's server binaries (initdb, pg_dump, …), if they are installed."""
    candidates = []
    if shutil.which("pg_config"):
        bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(bindir.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for folder in candidates:
        if folder and (Path(folder) / "initdb").exists():
            return Path(folder)
    return None


def _apt_install(package: str) -> bool:
    """Install a Debian package when allowed (root, apt); whether it was tried."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True, capture_output=True, env=env)
    return True


def _throw_away_server(database: str) -> str:
    bindir = _binaries()
    folder = Path(tempfile.mkdtemp(prefix="webhook-app-test-pg-"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as the postgres user
        shutil.chown(folder, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = folder / "data"

    def run(*command: str) -> None:
        subprocess.run([*as_user, *command], check=True, capture_output=True)

    run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start")
    stop = [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
    atexit.register(lambda: subprocess.run(stop, capture_output=True, check=False))
    run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", database)
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/{database}"


def chromium() -> str:
    """The path of Debian's chromium, installing it with apt when missing and allowed."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if _apt_install("chromium"):
        found = shutil.which("chromium")
    if not found:
        raise RuntimeError(
            "The browser test needs Chromium: install it (Debian: sudo apt-get install chromium)."
        )
    return found
