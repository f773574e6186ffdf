"""The database as an attacker with a copy of it would read it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import sqlalchemy as sa

from tests import setup_machine


def database_dump(database_url: str) -> bytes:
    """The database as it lies on disk (SQLite's file and its write-ahead log), or pg_dump's
    dump of the test's schema."""
    if database_url.startswith("sqlite"):
        path = Path(database_url.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())
    url = sa.engine.make_url(database_url)
    schema = url.query["options"].removeprefix("-csearch_path=")  # type: ignore[union-attr]
    plain = url.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    found = shutil.which("pg_dump") or str(
        (setup_machine.installed_binaries() or Path("/usr/bin")) / "pg_dump"
    )
    return subprocess.run([found, "--schema", schema, plain], check=True, capture_output=True).stdout
