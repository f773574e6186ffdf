"""What a job is: work a worker repeats (deliveries, a provider's polling), and what it is built from.

This is a plugin contract: it imports nothing above the model, so a provider that adds a job
depends on this module and the model only. The worker runtime (`runtime/worker.py`) runs
every job on the same loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from webhook_app.model.clock import Clock
from webhook_app.model.events import Event
from webhook_app.model.receipts import IngestResult, NewReceipt


class Wakeup:
    """An event a job sleeps on between rounds; set by notifications, finished work and shutdown."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.listening = False
        """Whether something sets this wake-up when work is committed (then a job may sleep longer)."""

    def set(self) -> None:
        self._event.set()

    def wait(self, timeout: float) -> bool:
        woken = self._event.wait(timeout)
        self._event.clear()
        return woken


class Ingest(Protocol):
    """The one way events enter the log, as a job sees it (the callback view uses the same step)."""

    def record_with(
        self,
        receipt: NewReceipt | None,
        events: Sequence[Event],
        *,
        dedupe_key: str | None,
        together_with: Callable[[Any], bool],
    ) -> IngestResult | None:
        """Keep the receipt and its events, with one delivery per route that accepts each, then
        announce them. `together_with(connection)` is the job's own write in the same
        transaction (its table's update); when it returns False nothing is kept and None
        returned. Without a receipt the events are the service's own (an ops event)."""


@dataclass(frozen=True)
class JobContext:
    """What a provider's job is built from."""

    database: Any
    """The store's `Database` (`store/database.py`: `writing()`, `reading()`), for the job's own table."""
    settings: Any
    """The service's settings (`config/settings.py`); a provider reads its own through `provider_setting`."""
    clock: Clock
    worker_id: str
    ingest: Ingest


class Job:
    """Work a worker repeats. Subclasses set `name` and implement `run_once` and `idle_seconds`."""

    name: str = "job"

    def __init__(self, wakeup: Wakeup | None = None) -> None:
        self.wakeup = wakeup or Wakeup()

    def start(self) -> None:
        """Before the first round (threads that live as long as the job)."""

    def run_once(self) -> int:
        """Claim what is due now and do it (or start it); returns how many were claimed."""
        raise NotImplementedError

    def idle_seconds(self, claimed: int) -> float:
        """How long nothing more is due after a round that claimed `claimed` (0: go on at once)."""
        raise NotImplementedError

    def finish(self) -> None:
        """Let the work in flight end; called once `stop` is set."""

    def close(self) -> None:
        """Release clients and handlers; called last."""
