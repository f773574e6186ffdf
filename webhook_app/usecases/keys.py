"""Named keys: made (shown once), revoked, and recognised on every request.

A key is `whk_<id>_<secret>`: the id is public (it finds the row), the secret is 32 random
bytes. The row keeps a salted SHA-256 of the whole key, compared in constant time; a key of
that much randomness needs no slow hash. Each process keeps the live keys in memory and reads
them again when they are more than `REFRESH_SECONDS` old, so a revoked key is refused by every
process within that time (plus one request). `WEBHOOK_APP_ADMIN_TOKENS` entries act as admin
keys named `env-1`, `env-2`, ….
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from webhook_app.errors import WebhookAppError
from webhook_app.model.states import Role, values
from webhook_app.store import Store
from webhook_app.store.audit import Audit
from webhook_app.store.keys import KeyNameTaken, StoredKey
from webhook_app.tokens import matching_token

PREFIX = "whk"
REFRESH_SECONDS = 1.0
LAST_USED_EVERY = timedelta(minutes=1)
"""`last_used_at` is written at most this often per key, not on every request."""

NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
ENV_NAME = re.compile(r"env-([0-9]+)")


@dataclass(frozen=True)
class Principal:
    """Who a request is: a key's name, its role, and the id a page session is bound to."""

    name: str
    role: Role
    key_id: str


class InvalidKey(WebhookAppError):
    status, code = 422, "invalid_key"

    def __init__(self, details: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{field}: {' '.join(why)}" for field, why in details.items()))
        self.details = details


class KeyExists(WebhookAppError):
    status, code = 409, "key_exists"


class NoSuchKey(WebhookAppError, LookupError):
    status, code = 404, "not_found"


class EnvironmentKey(WebhookAppError):
    """`env-N` keys live in the environment: they are removed there, not revoked here."""

    status, code = 409, "environment_key"


def env_key_name(index: int) -> str:
    return f"env-{index + 1}"


def _digest(salt: str, key: str) -> str:
    return hashlib.sha256((salt + key).encode()).hexdigest()


_DECOY_SALT = secrets.token_hex(16)
_DECOY_DIGEST = _digest(_DECOY_SALT, secrets.token_urlsafe(32))


class KeyRing:
    """The keys this process recognises: the named ones in the database, and the environment's."""

    def __init__(self, store: Store, env_tokens: Sequence[str]) -> None:
        self.store = store
        self.env_tokens = tuple(env_tokens)
        self._lock = threading.Lock()
        self._live: dict[str, StoredKey] = {}
        self._read_at = float("-inf")
        self._touched: dict[str, float] = {}

    def identify(self, presented: str, *, now: datetime) -> Principal | None:
        """Who holds `presented`, or None for no live key; the key's use is noted (at most
        once a minute)."""
        _prefix, _, rest = presented.partition("_")
        key_id, _, _secret = rest.partition("_")
        stored = self._keys().get(key_id) if _prefix == PREFIX else None
        salt, digest = (stored.salt, stored.digest) if stored else (_DECOY_SALT, _DECOY_DIGEST)
        matches = hmac.compare_digest(_digest(salt, presented), digest)  # the same work when unknown
        if stored is not None and matches:
            self._note_use(stored.id, now)
            return Principal(stored.name, Role(stored.role), stored.id)
        index = matching_token(presented, self.env_tokens)
        if index is None:
            return None
        name = env_key_name(index)
        return Principal(name, Role.ADMIN, name)

    def session_principal(self, key_id: str) -> Principal | None:
        """Who a page session bound to `key_id` is now; None once that key was revoked."""
        if (found := ENV_NAME.fullmatch(key_id)) is not None:
            index = int(found.group(1)) - 1
            return Principal(key_id, Role.ADMIN, key_id) if 0 <= index < len(self.env_tokens) else None
        stored = self._keys().get(key_id)
        return Principal(stored.name, Role(stored.role), stored.id) if stored else None

    def create(self, name: Any, role: Any, *, by: str, now: datetime) -> tuple[StoredKey, str]:
        """A new key and its secret text, which is shown this once and kept nowhere; `name` and
        `role` as given (a request's JSON may hold anything), `InvalidKey` naming each at fault."""
        problems: dict[str, list[str]] = {}
        if not isinstance(name, str) or not NAME.fullmatch(name):
            problems["name"] = ["1 to 63 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit"]
        elif ENV_NAME.fullmatch(name):
            problems["name"] = ["env-N names are WEBHOOK_APP_ADMIN_TOKENS entries; choose another"]
        if role not in values(Role):
            problems["role"] = [f"one of {', '.join(values(Role))}"]
        if problems:
            raise InvalidKey(problems)
        key_id = secrets.token_hex(6)
        key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        salt = secrets.token_hex(16)
        stored = StoredKey(
            id=key_id,
            name=name,
            role=role,
            salt=salt,
            digest=_digest(salt, key),
            created_at=now,
            created_by=by,
            last_used_at=None,
            revoked_at=None,
        )
        try:
            self.store.keys.insert(stored, audit=Audit(by, "key.create", name, now, {"role": role}))
        except KeyNameTaken:
            raise KeyExists(
                f"a live key named {name!r} exists; revoke it first, or choose another name"
            ) from None
        self._forget()
        return stored, key

    def revoke(self, name: str, *, by: str, now: datetime) -> StoredKey:
        if ENV_NAME.fullmatch(name):
            raise EnvironmentKey(
                f"{name} is an entry of WEBHOOK_APP_ADMIN_TOKENS: remove it there and restart"
            )
        revoked = self.store.keys.revoke(name, now=now, audit=Audit(by, "key.revoke", name, now))
        if revoked is None:
            raise NoSuchKey(f"no live key named {name!r}")
        self._forget()
        return revoked

    def listed(self) -> list[dict[str, Any]]:
        """Every key without its secret: the environment's first, then the named ones."""
        env = [
            {
                "name": env_key_name(i),
                "role": Role.ADMIN.value,
                "source": "environment",
                "created_at": None,
                "last_used_at": None,
                "revoked_at": None,
            }
            for i in range(len(self.env_tokens))
        ]
        named = [
            {
                "name": k.name,
                "role": k.role,
                "source": "database",
                "created_at": k.created_at,
                "last_used_at": k.last_used_at,
                "revoked_at": k.revoked_at,
            }
            for k in self.store.keys.listed()
        ]
        return env + named

    def _keys(self) -> dict[str, StoredKey]:
        with self._lock:
            if time.monotonic() - self._read_at > REFRESH_SECONDS:
                self._live = {key.id: key for key in self.store.keys.live()}
                self._read_at = time.monotonic()
            return self._live

    def _forget(self) -> None:
        """This process changed the keys: read them again on the next request."""
        with self._lock:
            self._read_at = float("-inf")

    def _note_use(self, key_id: str, now: datetime) -> None:
        last = self._touched.get(key_id)
        if last is not None and time.monotonic() - last < LAST_USED_EVERY.total_seconds():
            return
        self._touched[key_id] = time.monotonic()
        self.store.keys.touch(key_id, now=now, every=LAST_USED_EVERY)
