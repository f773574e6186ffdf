"""The key that seals route secrets: made once, private, rotated without losing what it sealed."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.config.together import started_together
from webhook_app.config.secret_key import KEY_FILE, Sealer, SecretUnreadable, secret_keys
from webhook_app.errors import ConfigError


def test_a_key_is_made_on_first_use_kept_private_and_read_back(tmp_path: Path) -> None:
    (made,) = secret_keys((), str(tmp_path))
    path = tmp_path / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secret_keys((), str(tmp_path)) == (made,), "the same key every later start"
    assert secret_keys(("configured",), str(tmp_path)) == ("configured",), "the environment wins"


def test_a_new_key_first_seals_and_the_old_one_still_opens(tmp_path: Path) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed_before = Sealer([old]).seal("https://hooks.slack.com/services/T/B/old")
    rotated = Sealer([new, old])
    assert rotated.open(sealed_before) == "https://hooks.slack.com/services/T/B/old"
    sealed_after = rotated.seal("fresh")
    assert Sealer([new]).open(sealed_after) == "fresh", "the first key seals"
    with pytest.raises(SecretUnreadable):
        Sealer([old]).open(sealed_after)
    assert "fresh" not in str(sealed_after)


def test_a_key_that_is_not_a_fernet_key_stops_start_up_with_how_to_make_one() -> None:
    with pytest.raises(ConfigError, match="make one with"):
        Sealer(["not-a-key"])


def test_processes_started_together_share_one_whole_key(tmp_path: Path) -> None:
    """Was: the key file was made empty and then written, and a process started at the same
    moment (two `web` processes) read it empty and refused to start."""
    for folder, keys in started_together(tmp_path, lambda folder: secret_keys((), str(folder))):
        assert len(set(keys)) == 1 and len(keys[0]) == 1, keys
        assert (folder / KEY_FILE).read_text().split() == list(keys[0])
        assert [p.name for p in folder.iterdir()] == [KEY_FILE], "no temporary file left behind"


def test_a_kept_key_is_read_without_writing_in_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A data directory that holds its key may be read-only (root ignores file modes, so the
    refusal a read-only directory gives is stood in for)."""
    (made,) = secret_keys((), str(tmp_path))

    def read_only(path: Path, text: str) -> bool:
        raise PermissionError(f"read-only: {path}")

    monkeypatch.setattr("webhook_app.config.secret_key.create_private_file", read_only)
    assert secret_keys((), str(tmp_path)) == (made,)
