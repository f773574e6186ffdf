"""Named API keys: their public id, name, role and salted hash; never the key itself."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from webhook_app.store.audit import Audit
from webhook_app.store.database import Database
from webhook_app.store.tables import api_keys


@dataclass(frozen=True)
class StoredKey:
    id: str
    name: str
    role: str
    salt: str
    digest: str
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyNameTaken(Exception):
    """A live key has that name already."""


class KeyStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def live(self) -> list[StoredKey]:
        with self.db.reading() as conn:
            rows = conn.execute(sa.select(api_keys).where(api_keys.c.revoked_at.is_(None))).all()
        return [_stored(row) for row in rows]

    def listed(self) -> list[StoredKey]:
        """Every key, live ones first, each by name."""
        with self.db.reading() as conn:
            rows = conn.execute(
                sa.select(api_keys).order_by(
                    api_keys.c.revoked_at.is_not(None), api_keys.c.name, api_keys.c.created_at
                )
            ).all()
        return [_stored(row) for row in rows]

    def insert(self, key: StoredKey, *, audit: Audit) -> None:
        """`KeyNameTaken` when a live key has the name (checked by a unique index, so two
        terminals creating the same name at once make one key)."""
        try:
            with self.db.writing() as conn:
                conn.execute(api_keys.insert().values(dataclasses.asdict(key)))
                audit.write(conn)
        except sa.exc.IntegrityError:
            raise KeyNameTaken(key.name) from None

    def revoke(self, name: str, *, now: datetime, audit: Audit) -> StoredKey | None:
        """Revoke the live key of that name; None when there is none (revoked already)."""
        with self.db.writing() as conn:
            row = conn.execute(
                api_keys.update()
                .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now, revoked_by=audit.actor[:200])
                .returning(*api_keys.c)
            ).first()
            if row is None:
                return None
            audit.write(conn, role=row.role)
        return _stored(row)

    def touch(self, key_id: str, *, now: datetime, every: timedelta) -> None:
        """Note the key was used, unless that was noted less than `every` ago (by any process)."""
        with self.db.writing() as conn:
            conn.execute(
                api_keys.update()
                .where(
                    api_keys.c.id == key_id,
                    sa.or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < now - every),
                )
                .values(last_used_at=now)
            )


def _stored(row: Any) -> StoredKey:
    return StoredKey(**{name: getattr(row, name) for name in StoredKey.__dataclass_fields__})
