"""Who is signed in to the web page, and who keeps guessing the admin token.

A session is a row keyed by a digest of the id in the signed cookie: signing out deletes
the row, so a copy of the old cookie opens nothing. Failed sign-ins are counted per client
in a window, in the database, so every web process and host applies the same limit; behind
a reverse proxy the client is the address it forwards (`WEBHOOK_APP_TRUSTED_PROXIES`).
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
    """Failed sign-ins per client, counted in windows of `window`: past `attempts` of them a
    client is slowed down. A correct token is never refused for others' mistakes."""

    def __init__(self, store: Store, *, attempts: int, window: timedelta) -> None:
        self.store = store
        self.attempts = attempts
        self.window = window

    def failed(self, client: str, *, now: datetime) -> float:
        """Count one failure of `client`, in one statement (concurrent failures all count), and
        return 0 while it is within its attempts, else the seconds left of its window."""
        expired = sign_in_failures.c.window_started_at <= now - self.window
        statement = self.store.upsert(
            sign_in_failures,
            {"client": client[:100], "failures": 1, "window_started_at": now},
            key=["client"],
            update={
                "failures": sa.case((expired, 1), else_=sign_in_failures.c.failures + 1),
                "window_started_at": sa.case((expired, now), else_=sign_in_failures.c.window_started_at),
            },
        ).returning(sign_in_failures.c.failures, sign_in_failures.c.window_started_at)
        with self.store.writing() as conn:
            failures, started = conn.execute(statement).one()
        if failures <= self.attempts:
            return 0.0
        return max(1.0, (started + self.window - now).total_seconds())

    def succeeded(self, client: str) -> None:
        with self.store.writing() as conn:
            conn.execute(sign_in_failures.delete().where(sign_in_failures.c.client == client[:100]))
