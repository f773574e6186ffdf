"""The fault drills of benchmarks/drills.py at small sizes, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.drills import duplicates, sink_outage, web_killed_under_load

pytestmark = pytest.mark.slow  # real processes, a browser or a drill


def test_web_killed_under_load_loses_no_acknowledged_event(database_url: str, tmp_path: Path) -> None:
    result = web_killed_under_load(database_url, tmp_path, seconds=2.0, connections=8)
    assert result.counts["missing"] == 0 and result.counts["acknowledged"] > 0, result.line()


def test_many_identical_callbacks_make_one_event(database_url: str, tmp_path: Path) -> None:
    result = duplicates(database_url, tmp_path, total=300, connections=16)
    assert result.counts["events"] == 1 and result.counts["202"] == 1, result.line()
    assert result.counts["200 duplicate"] == 299


def test_every_delivery_succeeds_after_the_sink_recovers(database_url: str, tmp_path: Path) -> None:
    result = sink_outage(database_url, tmp_path, events=10, outage_seconds=1.5)
    assert result.counts["not succeeded"] == 0 and result.counts["sink 500s"] > 0, result.line()
