"""Files only this user reads (0600), made so that another process never sees one half-written.

Two processes started together on a new data directory (two `web` processes, say) both make
the secret key and the tokens. A file made in place can be read while still empty; these are
written under a temporary name and then linked or renamed into place, whole.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def create_private_file(path: Path, text: str) -> bool:
    """Make `path` holding `text`, unless it exists; whether this call made it."""
    temporary = _written(path, text)
    try:
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        temporary.unlink()
    return True


def replace_private_file(path: Path, text: str) -> None:
    """`path` holding `text` from now on; a reader sees the old file or the new one."""
    os.replace(_written(path, text), path)


def _written(path: Path, text: str) -> Path:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return temporary
