"""Start-up objects are frozen out of full garbage collections (they took 30-40 ms each)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import environment

pytestmark = pytest.mark.slow  # real processes, a browser or a drill

PROBE = """
import gc, json
from webhook_app import create_app
from webhook_app.telemetry.memory import freeze_startup_objects

before = gc.get_freeze_count()
create_app()
after_app = gc.get_freeze_count()
create_app()  # a second app in the same process freezes nothing more
freeze_startup_objects()
gc.collect()
print(json.dumps({"before": before, "after_app": after_app, "after_more": gc.get_freeze_count(),
                  "walked": len(gc.get_objects())}))
"""


def test_the_app_factory_freezes_start_up_objects_once(tmp_path: Path) -> None:
    env = environment(f"sqlite:///{tmp_path / 'events.db'}", tmp_path, log_level="WARNING")
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    counts = json.loads(out.stdout.strip().splitlines()[-1])
    assert counts["before"] == 0
    assert counts["after_app"] > 10_000  # modules, classes, the app: never garbage
    assert counts["after_more"] <= counts["after_app"]  # frozen objects freed by refcount leave it
    assert counts["walked"] < counts["after_app"] / 2  # what a full collection still walks
