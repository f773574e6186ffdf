"""What is wrong with a recording, said once for the page, Slack and email: its flags and low scores.

Resemble lists the recordings of a dataset issue with three flags and four scores. A
recording is flagged when it is an outlier, silent or inactive, or when a score is below
its floor; `summary_line` heads every message about a dataset issue so the first thing a
person reads is how many recordings to re-record, and why.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

LOW_SCORES = {"stoi_score": 0.7, "pesq_score": 2.0, "si_sdr_score": 10.0, "resemble_sample_score": 0.5}
"""Below these a score is called low (STOI 0–1, PESQ 1–4.5, SI-SDR in dB, Resemble's 0–1): this
product's own floors, not Resemble's (which publishes none); `WEBHOOK_APP_LOW_SCORES` changes them."""

_floors: dict[str, float] = dict(LOW_SCORES)


def set_low_scores(floors: Mapping[str, float]) -> None:
    """Use `floors` (some or all of `LOW_SCORES`' keys) in this process: the settings' `LOW_SCORES`,
    set where a process starts (the app, the worker, a command)."""
    _floors.clear()
    _floors.update(LOW_SCORES)
    _floors.update({name: float(value) for name, value in floors.items() if name in LOW_SCORES})


def low_scores() -> dict[str, float]:
    """The floors in use: below one, a score is low."""
    return dict(_floors)


SCORE_LABELS = {
    "stoi_score": "STOI",
    "pesq_score": "PESQ",
    "si_sdr_score": "SI-SDR",
    "resemble_sample_score": "score",
}

FLAG_FIELDS = {"outlier": "is_outlier", "silent": "is_silent", "inactive": "is_active"}
"""Each flag's field (`inactive` is `is_active` being false)."""

PROBLEMS = ("outlier", "silent", "inactive", *(f"low {label}" for label in SCORE_LABELS.values()))
"""Every reason a recording can be flagged, in the order they are listed."""


def _value(recording: Any, name: str) -> Any:
    return recording.get(name) if isinstance(recording, Mapping) else getattr(recording, name, None)


def problems(recording: Any) -> list[str]:
    """Why a recording is flagged (a `Recording` or its JSON form): its flags, then each low score."""
    found = []
    if _value(recording, "is_outlier"):
        found.append("outlier")
    if _value(recording, "is_silent"):
        found.append("silent")
    if _value(recording, "is_active") is False:
        found.append("inactive")
    for name, floor in _floors.items():
        value = _value(recording, name)
        if value is not None and value < floor:
            found.append(f"low {SCORE_LABELS[name]}")
    return found


def failing_fields(recording: Any) -> set[str]:
    """The fields whose values made it flagged, to highlight them."""
    fields = {field for flag, field in FLAG_FIELDS.items() if flag in problems(recording)}
    return fields | {
        name for name, floor in _floors.items() if (v := _value(recording, name)) is not None and v < floor
    }


def problem_counts(recordings: Iterable[Any]) -> dict[str, int]:
    """How many recordings have each problem (only those some recording has), in `PROBLEMS` order."""
    counts = Counter(problem for recording in recordings for problem in problems(recording))
    return {problem: counts[problem] for problem in PROBLEMS if counts[problem]}


def summary_line(recordings: Iterable[Any], omitted: int = 0) -> str | None:
    """`3 of 42 recordings flagged: 2 outlier, 1 silent, 4 low STOI`, or None without recordings."""
    listed = list(recordings)
    if not listed and not omitted:
        return None
    flagged = sum(1 for recording in listed if problems(recording))
    total = len(listed) + omitted
    counts = ", ".join(f"{n} {problem}" for problem, n in problem_counts(listed).items())
    head = f"{flagged} of {total} recording{'s' if total != 1 else ''} flagged"
    return f"{head}: {counts}" if counts else head


SORTS = ("flagged", "name", *LOW_SCORES)
"""How a list of recordings can be ordered: flagged first (the default), by name, or by a score
(lowest, so worst, first)."""


def ordered(recordings: Iterable[Any], sort: str = "flagged") -> list[Any]:
    """The recordings in `sort` order (stable: the provider's order breaks ties)."""
    listed = list(recordings)
    if sort in LOW_SCORES:
        return sorted(listed, key=lambda r: (_value(r, sort) is None, _value(r, sort) or 0.0))
    if sort == "name":
        return sorted(listed, key=lambda r: str(_value(r, "name") or _value(r, "id") or ""))
    return sorted(listed, key=lambda r: (not problems(r), -len(problems(r))))


CSV_COLUMNS = ("name", "transcript", "reasons", *LOW_SCORES, "is_active", "is_outlier", "is_silent", "id")


def as_csv(recordings: Iterable[Any]) -> str:
    """The re-record list: one row per recording, flagged ones first, with why and every score
    and flag. A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`) starts with `'`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for recording in ordered(recordings, "flagged"):
        row = {name: _value(recording, name) for name in CSV_COLUMNS}
        row["reasons"] = "; ".join(problems(recording))
        writer.writerow(_cell(row[name]) for name in CSV_COLUMNS)
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return (
        "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not isinstance(value, float) else text
    )
