"""Alarms: call a function once some seconds have passed, unless cancelled first.

Every outbound call has a deadline (`outbound.py`). A `threading.Timer` per call starts a
thread per call, which cost a delivery more than its own HTTP exchange's parsing; here one
thread per process keeps every deadline in a heap and sleeps until the nearest. A cancelled
alarm stays in the heap until its time comes (cancelling is the common case, and cheap), but
the heap is rebuilt without them once they are most of it, so it stays as large as the
alarms still pending.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

_COMPACT_ABOVE = 1024
"""Entries in the heap before cancelled ones are swept out (when they are at least half)."""


class Alarm:
    """One pending call; `cancel()` before it rings and it never does."""

    __slots__ = ("at", "action", "cancelled")

    def __init__(self, at: float, action: Callable[[], None]) -> None:
        self.at = at
        self.action = action
        self.cancelled = False

    def cancel(self) -> None:
        if not self.cancelled:  # neither cancelled nor rung yet
            self.cancelled = True
            _clock.cancelled()


class _AlarmClock:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Alarm]] = []
        self._order = itertools.count()
        self._changed = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._cancelled = 0

    def set(self, seconds: float, action: Callable[[], None]) -> Alarm:
        alarm = Alarm(time.monotonic() + seconds, action)
        with self._changed:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="alarms", daemon=True)
                self._thread.start()
            soonest = not self._heap or alarm.at < self._heap[0][0]
            heapq.heappush(self._heap, (alarm.at, next(self._order), alarm))
            if soonest:
                self._changed.notify()
        return alarm

    def cancelled(self) -> None:
        with self._changed:
            self._cancelled += 1
            if len(self._heap) > _COMPACT_ABOVE and self._cancelled * 2 > len(self._heap):
                self._heap = [entry for entry in self._heap if not entry[2].cancelled]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._changed.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                _, _, alarm = heapq.heappop(self._heap)
                if alarm.cancelled:
                    self._cancelled = max(0, self._cancelled - 1)
                    continue
                alarm.cancelled = True  # rung: a later cancel() changes nothing
            try:
                alarm.action()
            except Exception:  # one alarm's failure must not stop the others
                logger.exception("an alarm's action failed")

    def forget_thread(self) -> None:
        """In a forked child: the parent's thread and alarms are not its own; the next alarm
        starts a thread."""
        self._changed = threading.Condition(threading.Lock())
        self._heap, self._cancelled, self._thread = [], 0, None


_clock = _AlarmClock()
os.register_at_fork(after_in_child=_clock.forget_thread)


def after(seconds: float, action: Callable[[], None]) -> Alarm:
    """Call `action` (from the alarms' thread) once `seconds` have passed, unless cancelled."""
    return _clock.set(seconds, action)
