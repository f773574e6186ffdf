"""The key that seals secret route options at rest, and the sealing itself.

`WEBHOOK_APP_SECRET_KEY` holds comma-separated Fernet keys: the first seals, every one opens
(so a key is rotated by putting the new one first). When it is unset, a key is made on first
start and kept as `webhook_app.secret_key` (0600) in the data directory, like the tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from webhook_app.config.private_file import create_private_file
from webhook_app.errors import ConfigError

KEY_FILE = "webhook_app.secret_key"
SEALED = "sealed"
"""A sealed option's value is `{"sealed": "<Fernet token>"}`."""


class SecretUnreadable(ValueError):
    """A sealed value no configured key opens (the key was changed or lost)."""


def secret_keys(configured: Sequence[str], data_dir: str) -> tuple[str, ...]:
    """The configured keys, else the one kept in the data directory, made now if there is none."""
    if configured:
        return tuple(configured)
    path = Path(data_dir) / KEY_FILE
    if not path.exists():  # a data directory holding its key may be read-only
        key = Fernet.generate_key().decode()
        if create_private_file(path, key + "\n"):
            return (key,)
    kept = path.read_text().split()  # kept before, or made by a process started with this one
    if not kept:
        raise ConfigError(f"{path} is empty: restore the key, or set WEBHOOK_APP_SECRET_KEY")
    return tuple(kept)


class Sealer:
    """Seals with the first key, opens with any."""

    def __init__(self, keys: Sequence[str]) -> None:
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        except (ValueError, TypeError):
            raise ConfigError(
                "WEBHOOK_APP_SECRET_KEY (or the data directory's webhook_app.secret_key): each key must "
                "be 32 url-safe base64-encoded bytes; make one with "
                "python3 -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
            ) from None

    def seal(self, value: str) -> dict[str, str]:
        return {SEALED: self._fernet.encrypt(value.encode()).decode()}

    def open(self, sealed: dict[str, str]) -> str:
        try:
            return self._fernet.decrypt(sealed[SEALED].encode()).decode()
        except (InvalidToken, KeyError, TypeError):
            raise SecretUnreadable(
                "a secret option cannot be decrypted with WEBHOOK_APP_SECRET_KEY"
            ) from None


def is_sealed(value: object) -> bool:
    return isinstance(value, dict) and set(value) == {SEALED}
