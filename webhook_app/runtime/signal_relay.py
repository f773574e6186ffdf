"""Signal handlers that only wake a thread, which does the work the signal asks for.

A Python signal handler runs in the main thread between two bytecodes, wherever that thread
was: inside `Event.wait` holding the event's lock, or inside an earlier handler that was
setting an event. A handler that set an `Event` itself could then wait forever for a lock
its own thread held. systemd stops a unit by signalling every process in it and `serve`
forwards the signal to its children as well, so a worker got SIGTERM twice and hung until
`serve` killed it 30 s later. Here the handler only writes the signal's number to a pipe,
which takes no lock; a thread reads it and runs the action.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from contextlib import suppress
from types import FrameType


def relay_signals(actions: dict[signal.Signals, Callable[[], object]]) -> None:
    """On each of these signals, run its action on the relay thread, one at a time, in order."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)  # a full pipe drops the signal: the actions are idempotent

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        with suppress(BlockingIOError):
            os.write(write_end, bytes([signum]))

    def run() -> None:
        while True:
            for signum in os.read(read_end, 64):
                actions[signal.Signals(signum)]()

    threading.Thread(target=run, name="signals", daemon=True).start()
    for signum in actions:
        signal.signal(signum, on_signal)
