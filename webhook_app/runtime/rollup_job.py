"""The worker job that keeps the rollups (voices, events and attempts per hour) up to date."""

from __future__ import annotations

from webhook_app.model.clock import Clock
from webhook_app.runtime.worker import Job
from webhook_app.store import Store
from webhook_app.store.rollups import BATCH

IDLE_SECONDS = 2.0


class RollupJob(Job):
    name = "rollups"

    def __init__(self, store: Store, clock: Clock) -> None:
        super().__init__()
        self.store = store
        self.clock = clock

    def run_once(self) -> int:
        return self.store.rollups.roll_up(now=self.clock.now())

    def idle_seconds(self, claimed: int) -> float:
        """At once while there is a backlog; else a round every two seconds."""
        return 0.0 if claimed >= BATCH else IDLE_SECONDS
