"""How a commit tells the workers there is work: a NOTIFY on PostgreSQL, inside the transaction
(delivered at commit); on SQLite, one byte to the worker's local socket once the commit is done
(`store/engine.py` sends it when the connection goes back to the pool)."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import sys
from pathlib import Path

import sqlalchemy as sa

CHANNEL_SQL = "'webhook_app_work_' || left(md5(coalesce(current_schema(), '')), 16)"
"""This schema's channel, as an SQL expression. NOTIFY reaches every session of a database,
so deployments in different schemas of one database would wake each other's workers; a
hash of the schema's name keeps the channel's name within PostgreSQL's 63 bytes."""


WORK_ADDED = "webhook_app.work_added"
"""Set in a SQLite connection's `info` by `notify_work`; its commit then pokes the worker."""


def notify_work(conn: sa.Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(f"SELECT pg_notify({CHANNEL_SQL}, '')"))
    else:
        conn.info[WORK_ADDED] = True  # sent after the commit (store/engine.py), never before


def local_address(database: str | None) -> str | None:
    """The abstract Unix socket a SQLite database's worker listens on (Linux), or None."""
    if not sys.platform.startswith("linux") or not database or database == ":memory:":
        return None
    digest = hashlib.sha256(str(Path(database).absolute()).encode()).hexdigest()[:32]
    return f"\0webhook-app-work-{digest}"


_sockets: list[socket.socket] = []
"""One datagram socket for the process, made at the first poke: each `sendto` is one whole
datagram, so threads and greenlets can share it (a per-thread socket was a socket per
greenlet in a web worker)."""


def poke(address: str | None) -> None:
    """Tell the worker listening at `address` that work was committed; nothing if none listens."""
    if address is None:
        return
    if not _sockets:
        made = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        made.setblocking(False)
        _sockets.append(made)
    sock = _sockets[0]
    with contextlib.suppress(OSError):  # no worker listens, or its queue is full: it will poll
        sock.sendto(b"!", address)
