"""Who is signed in to the web page, and who keeps guessing the admin token.

A session is a row keyed by a digest of the id in the signed cookie: signing out deletes
the row, so a copy of the old cookie opens nothing. Failed sign-ins are counted per client
in a window, in the database, so every web process and host applies the same limit.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import sqlalchemy as sa

from webhook_app.store.store import Store
from webhook_app.store.tables import sign_in_failures, ui_sessions


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class UISessions:
    def __init__(self, store: Store) -> None:
        self.store = store

    def start(self, session_id: str, *, now: datetime, lifetime: timedelta) -> None:
        with self.store.writing() as conn:
            conn.execute(ui_sessions.delete().where(ui_sessions.c.expires_at < now))
            conn.execute(
                ui_sessions.insert().values(
                    digest=_digest(session_id), created_at=now, expires_at=now + lifetime
                )
            )

    def is_live(self, session_id: str, *, now: datetime) -> bool:
        with self.store.reading() as conn:
            expires = conn.execute(
                sa.select(ui_sessions.c.expires_at).where(ui_sessions.c.digest == _digest(session_id))
            ).scalar()
        return expires is not None and expires > now

    def end(self, session_id: str) -> None:
        with self.store.writing() as conn:
            conn.execute(ui_sessions.delete().where(ui_sessions.c.digest == _digest(session_id)))


class SignInLimit:
    """At most `attempts` failed sign-ins per client in each `window`."""

    def __init__(self, store: Store, *, attempts: int, window: timedelta) -> None:
        self.store = store
        self.attempts = attempts
        self.window = window

    def wait_seconds(self, client: str, *, now: datetime) -> float:
        """0 when `client` may try; else how long until it may."""
        with self.store.reading() as conn:
            row = conn.execute(
                sa.select(sign_in_failures).where(sign_in_failures.c.client == client[:100])
            ).first()
        if row is None or row.failures < self.attempts:
            return 0.0
        return max(0.0, (row.window_started_at + self.window - now).total_seconds())

    def failed(self, client: str, *, now: datetime) -> None:
        client = client[:100]
        with self.store.writing() as conn:
            row = conn.execute(sa.select(sign_in_failures).where(sign_in_failures.c.client == client)).first()
            if row is None:
                conn.execute(
                    sign_in_failures.insert().values(client=client, failures=1, window_started_at=now)
                )
            elif row.window_started_at + self.window <= now:
                conn.execute(
                    sign_in_failures.update()
                    .where(sign_in_failures.c.client == client)
                    .values(failures=1, window_started_at=now)
                )
            else:
                conn.execute(
                    sign_in_failures.update()
                    .where(sign_in_failures.c.client == client)
                    .values(failures=sign_in_failures.c.failures + 1)
                )

    def succeeded(self, client: str) -> None:
        with self.store.writing() as conn:
            conn.execute(sign_in_failures.delete().where(sign_in_failures.c.client == client[:100]))
