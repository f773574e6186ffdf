"""Group commit: callbacks that wait to be stored at the same moment share one transaction.

A commit costs far more than the rows in it (a WAL flush and a round trip on PostgreSQL;
on SQLite a write lock, a page cache read back from the WAL and a frame for each page
touched), so writing what is waiting together costs each callback a fraction of it. Nobody
waits for a batch to fill: the first caller leads and writes at once whatever has queued
behind it (in a web worker after one yield, so requests already running can join); those
who arrive while it writes queue up, and the first of them leads the next batch. Each
caller returns only once its own batch has committed, so an acknowledgement still means
stored.

Thread-safe, and cooperative under gevent's monkey-patching, where the callers are
greenlets of one web worker. There a batch forms while the previous one is being written,
so a write that holds the process (SQLite's calls do) goes to gevent's thread pool
(`blocking.off_the_event_loop`) and lets the other greenlets go on meanwhile.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from webhook_app.store.blocking import evented

Item = TypeVar("Item")
Result = TypeVar("Result")

MAX_BATCH = 64
"""Callbacks per transaction at most: bounds one statement's size and the longest wait."""


class _Waiting(Generic[Item, Result]):
    __slots__ = ("item", "ready", "leads", "result", "error")

    def __init__(self, item: Item) -> None:
        self.item = item
        self.ready = threading.Event()  # set when written, or when made the next leader
        self.leads = False
        self.result: Result | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[Item, Result]):
    """`submit(item)` returns what `write` returned for it, after the batch holding it committed.

    `write` takes a batch and returns one outcome per item, in order: a result, or an
    exception that only that item's caller raises. If `write` raises, every caller in the
    batch raises it.
    """

    def __init__(
        self, write: Callable[[Sequence[Item]], Sequence[Result | Exception]], max_batch: int = MAX_BATCH
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Waiting[Item, Result]] = []
        self._leading = False  # invariant: the queue is never non-empty without a leader

    def submit(self, item: Item) -> Result:
        mine: _Waiting[Item, Result] = _Waiting(item)
        with self._lock:
            self._queue.append(mine)
            mine.leads = not self._leading
            self._leading = True
        try:
            if not mine.leads:
                mine.ready.wait()
            if mine.leads:
                self._lead()
        except BaseException:  # interrupted before its batch was taken (its greenlet killed)
            self._withdraw(mine)
            raise
        if mine.error is not None:
            raise mine.error
        return mine.result  # type: ignore[return-value]

    def _lead(self) -> None:
        if evented():  # let greenlets that are ready reach `submit` and join this batch (threads
            time.sleep(0)  # join on their own while the leader waits on the database)
        with self._lock:
            batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
        try:
            outcomes = self._write([waiting.item for waiting in batch])
            for waiting, outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, Exception):
                    waiting.error = outcome
                else:
                    waiting.result = outcome
        except BaseException as error:
            for waiting in batch:
                waiting.error = error
        finally:
            for waiting in batch:
                waiting.leads = False
                waiting.ready.set()
            with self._lock:
                self._pass_lead()

    def _withdraw(self, mine: _Waiting[Item, Result]) -> None:
        """Drop an item nobody waits for any more; if it was to lead, the next in line leads."""
        with self._lock:
            if mine in self._queue:
                self._queue.remove(mine)
            if mine.leads:
                mine.leads = False
                self._pass_lead()

    def _pass_lead(self) -> None:
        """Under the lock: the first in line leads the next batch, or nobody leads an empty queue."""
        if self._queue:
            self._queue[0].leads = True
            self._queue[0].ready.set()
        else:
            self._leading = False


def each_alone_if_refused(
    write: Callable[[Sequence[Item]], Sequence[Result]],
    batch: Sequence[Item],
    refused: tuple[type[Exception], ...],
) -> list[Result | Exception]:
    """A `write` for `GroupCommit`: the batch in one transaction; if the database refuses it
    (one of `refused`), each item on its own, so one the database refuses fails alone and
    the others are kept. A batch of one raises what it raised."""
    try:
        return list(write(batch))
    except refused:
        if len(batch) == 1:
            raise
    outcomes: list[Result | Exception] = []
    for item in batch:
        try:
            outcomes += write([item])
        except refused as exc:
            outcomes.append(exc)
    return outcomes
