"""First starts on a new data directory, several at the same moment."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def started_together(
    tmp_path: Path, start: Callable[[Path], T], *, processes: int = 8, trials: int = 40
) -> Iterator[tuple[Path, list[T]]]:
    """For each trial, a new folder and what `start(folder)` returned in each of `processes`
    threads released at once."""
    for trial in range(trials):
        folder = tmp_path / str(trial)
        folder.mkdir()
        gate = threading.Barrier(processes)

        def released(folder: Path = folder, gate: threading.Barrier = gate) -> T:
            gate.wait(5)
            return start(folder)

        with ThreadPoolExecutor(processes) as pool:
            yield folder, [future.result() for future in [pool.submit(released) for _ in range(processes)]]
