"""Uploading a voice's recordings to Resemble, one WAV file and its transcript at a time.

The seed's second way to make a voice: create it without a dataset, upload recordings,
then build. A transcripts CSV names each file (`name`, `text`; optional `emotion`,
`is_active`). A run can be cut at any point and run again: a file is skipped when
Resemble already lists a recording of that name, or when the journal (one line per file
uploaded, kept in the data directory) says a run uploaded it, so no file goes twice.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MINIMUM_RECORDINGS = {"rapid": 3, "professional": 20}
"""Recordings a voice needs before Build voice, by voice type (the seed, "Option 2")."""
DEFAULT_VOICE_TYPE = "professional"  # Resemble's, when a voice is created without one
REQUIRED_COLUMNS = ("name", "text")


class TranscriptsError(ValueError):
    """The transcripts file cannot be read as the command needs; the message says why."""


@dataclass(frozen=True)
class Row:
    """One recording to upload: its file (by name in the folder) and what goes with it."""

    name: str
    text: str
    emotion: str
    is_active: bool


@dataclass(frozen=True)
class Check:
    """A row checked against the folder: `problem` is None when its file can be uploaded."""

    row: Row
    path: Path
    problem: str | None


def read_transcripts(path: Path) -> list[Row]:
    """The rows of the CSV, in order; `TranscriptsError` for a missing column or a repeated name."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise TranscriptsError(f"{path}: no column {', '.join(missing)} (columns: name, text; "
                                       "optional: emotion, is_active)")  # fmt: skip
            rows = [_row(line, path, number) for number, line in enumerate(reader, start=2)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise TranscriptsError(f"{path}: {exc}") from None
    seen: set[str] = set()
    for row in rows:
        if row.name in seen:
            raise TranscriptsError(f"{path}: {row.name} is listed twice")
        seen.add(row.name)
    return rows


def _row(line: dict[str, str | None], path: Path, number: int) -> Row:
    name, text = (line.get("name") or "").strip(), (line.get("text") or "").strip()
    if not name or not text:
        raise TranscriptsError(f"{path}, line {number}: every row needs a name and a text")
    active = (line.get("is_active") or "true").strip().lower()
    if active not in ("true", "false", "1", "0", "yes", "no"):
        raise TranscriptsError(f"{path}, line {number}: is_active is {active!r}, not true or false")
    return Row(name, text, (line.get("emotion") or "neutral").strip(), active in ("true", "1", "yes"))


def check_files(rows: list[Row], folder: Path) -> list[Check]:
    """Each row with its file, and why it cannot be uploaded: missing, or not a WAV file."""
    return [Check(row, folder / row.name, _problem(folder, row.name)) for row in rows]


def _problem(folder: Path, name: str) -> str | None:
    path = folder / name
    if Path(name).name != name:
        return "the name must be a file in the folder, not a path"
    if not path.is_file():
        return "no such file in the folder"
    with path.open("rb") as handle:
        head = handle.read(12)
    if path.suffix.lower() != ".wav" or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return "not a WAV file (Resemble takes .wav recordings)"
    return None


class Journal:
    """The names a run uploaded for one voice, one JSON line each, appended as each succeeds."""

    def __init__(self, data_dir: Path, voice_uuid: str) -> None:
        self.path = data_dir / "resemble-uploads" / f"{voice_uuid}.jsonl"

    def names(self) -> set[str]:
        return {entry["name"] for entry in self._entries()}

    def _entries(self) -> Iterator[dict[str, str]]:
        if not self.path.exists():
            return
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut by a crash: that upload is checked against Resemble's list
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                yield entry

    def add(self, name: str, recording_uuid: str | None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"name": name, "uuid": recording_uuid}) + "\n")
            handle.flush()


def still_needed(voice_type: str | None, recordings: int) -> int:
    """How many more recordings the voice needs before it can be built (0 when none)."""
    return max(0, MINIMUM_RECORDINGS.get(voice_type or DEFAULT_VOICE_TYPE, 0) - recordings)
