"""The worker runtime: every job (deliveries, rollups, what providers add) runs on the same loop.

A job claims what is due under a time-limited lease, does it, and says how long nothing
more will be due; the loop sleeps that long or until the job's wake-up is set (a
notification, a finished delivery, shutdown). The loop outlives any outage: a round that
raises is logged and retried after a backoff that doubles up to 30 s. procrastinate's
worker is the model: one process, several concurrent loops, one way to stop.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Sequence

from sqlalchemy.exc import SQLAlchemyError

from webhook_app.plugins.job import Job

logger = logging.getLogger(__name__)

FIRST_OUTAGE_BACKOFF_SECONDS = 0.5
MAX_OUTAGE_BACKOFF_SECONDS = 30.0


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """Runs each job in its own loop until `stop`, then lets every job finish and closes it."""

    def __init__(self, jobs: Sequence[Job]) -> None:
        self.jobs = tuple(jobs)

    def wake(self) -> None:
        for job in self.jobs:
            job.wakeup.set()

    def run(self, stop: threading.Event) -> None:
        loops = [
            threading.Thread(target=self._loop, args=(job, stop), name=f"job-{job.name}") for job in self.jobs
        ]
        try:
            for job in self.jobs:
                job.start()
            for loop in loops:
                loop.start()
            while not stop.wait(1.0):  # a timed wait, so a signal handler that sets `stop` runs
                pass
        finally:
            stop.set()
            self.wake()
            for loop in loops:
                if loop.is_alive():
                    loop.join()
            for job in self.jobs:
                job.finish()
            for job in self.jobs:
                job.close()

    @staticmethod
    def _loop(job: Job, stop: threading.Event) -> None:
        logger.info("%s started", job.name)
        backoff = FIRST_OUTAGE_BACKOFF_SECONDS
        while not stop.is_set():
            try:
                idle = job.idle_seconds(job.run_once())
            except Exception as exc:  # the loop must outlive any outage
                logger.warning(
                    "%s: a round failed (database unavailable?), next in %.1fs: %s",
                    job.name,
                    backoff,
                    exc,
                    exc_info=not isinstance(exc, SQLAlchemyError),
                )
                idle, backoff = backoff, min(backoff * 2, MAX_OUTAGE_BACKOFF_SECONDS)
            else:
                backoff = FIRST_OUTAGE_BACKOFF_SECONDS
            if idle > 0 and not stop.is_set():
                job.wakeup.wait(idle)
        logger.info("%s stopped", job.name)
