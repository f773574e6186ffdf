"""Group commit: callers that wait together share one write, and each gets its own outcome."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Sequence

import pytest

from webhook_app.store.group_commit import GroupCommit


class SlowWriter:
    """Records each batch; the first write waits until released, so others queue behind it."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.writing = threading.Event()
        self.release = threading.Event()

    def __call__(self, batch: Sequence[int]) -> list[int | Exception]:
        self.batches.append(list(batch))
        if len(self.batches) == 1:
            self.writing.set()
            assert self.release.wait(10)
        return [ValueError(f"refused {n}") if n < 0 else n * 10 for n in batch]


def queued(commit: GroupCommit[int, int], count: int) -> None:
    """Until `count` callers wait in line (they queue behind a write in progress)."""
    for _ in range(1000):
        if len(commit._queue) >= count:
            return
        threading.Event().wait(0.01)
    raise AssertionError(f"{len(commit._queue)} callers queued, not {count}")


def test_callers_that_arrive_during_a_write_share_the_next_one() -> None:
    writer = SlowWriter()
    commit: GroupCommit[int, int] = GroupCommit(writer)
    first = threading.Thread(target=commit.submit, args=(1,))
    first.start()
    assert writer.writing.wait(10)
    results: dict[int, int] = {}
    threads = [
        threading.Thread(target=lambda n=n: results.update({n: commit.submit(n)})) for n in range(2, 9)
    ]
    for thread in threads:
        thread.start()
    queued(commit, 7)
    assert not results, "a caller returned before its batch was written"
    writer.release.set()
    for thread in [first, *threads]:
        thread.join(10)
    assert len(writer.batches) == 2 and writer.batches[0] == [1]
    assert sorted(writer.batches[1]) == list(range(2, 9))
    assert results == {n: n * 10 for n in range(2, 9)}


def test_an_outcome_that_is_an_exception_reaches_only_its_own_caller() -> None:
    commit: GroupCommit[int, int] = GroupCommit(
        lambda batch: [ValueError("no") if n < 0 else n for n in batch]
    )
    assert commit.submit(3) == 3
    with pytest.raises(ValueError, match="no"):
        commit.submit(-1)
    assert commit.submit(4) == 4


def test_a_failed_write_fails_every_caller_of_its_batch_and_the_next_batch_is_written() -> None:
    writing, release = threading.Event(), threading.Event()
    calls: list[list[int]] = []

    def write(batch: Sequence[int]) -> list[int | Exception]:
        calls.append(list(batch))
        if len(calls) == 1:
            writing.set()
            assert release.wait(10)
            return [1]
        if len(calls) == 2:
            raise ConnectionError("database gone")
        return list(batch)

    commit: GroupCommit[int, int] = GroupCommit(write)
    first = threading.Thread(target=commit.submit, args=(0,))
    first.start()
    assert writing.wait(10)
    errors: list[BaseException] = []

    def failing(n: int) -> None:
        try:
            commit.submit(n)
        except ConnectionError as error:
            errors.append(error)

    threads = [threading.Thread(target=failing, args=(n,)) for n in (1, 2, 3)]
    for thread in threads:
        thread.start()
    queued(commit, 3)
    release.set()
    for thread in [first, *threads]:
        thread.join(10)
    assert len(errors) == 3 and all(str(e) == "database gone" for e in errors)
    assert commit.submit(7) == 7, "a failed batch left the queue without a leader"


def test_a_batch_never_exceeds_its_bound() -> None:
    writer = SlowWriter()
    commit: GroupCommit[int, int] = GroupCommit(writer, max_batch=3)
    first = threading.Thread(target=commit.submit, args=(1,))
    first.start()
    assert writer.writing.wait(10)
    threads = [threading.Thread(target=commit.submit, args=(n,)) for n in range(2, 9)]
    for thread in threads:
        thread.start()
    queued(commit, 7)
    writer.release.set()
    for thread in [first, *threads]:
        thread.join(10)
    assert sorted(n for batch in writer.batches for n in batch) == list(range(1, 9))
    assert max(len(batch) for batch in writer.batches) == 3


GEVENT_SCRIPT = """
from gevent import monkey
monkey.patch_all()
import gevent, gevent.event
from webhook_app.store.group_commit import GroupCommit

release = gevent.event.Event()
batches = []

def write(batch):
    batches.append(list(batch))
    if len(batches) == 1:
        release.wait(5)
    return [n * 10 for n in batch]

commit = GroupCommit(write)
leader = gevent.spawn(commit.submit, 1)
gevent.sleep(0.05)
followers = [gevent.spawn(commit.submit, n) for n in (2, 3, 4)]
gevent.sleep(0.05)
followers[0].kill()  # the first in line, about to lead the next batch, goes away
release.set()
gevent.joinall([leader, *followers], timeout=5)
assert leader.value == 10, leader.value
assert [f.value for f in followers[1:]] == [30, 40], [f.value for f in followers]
assert sorted(n for batch in batches[1:] for n in batch) == [3, 4], batches
assert commit.submit(5) == 50
print("ok")
"""


def test_a_greenlet_killed_while_waiting_leaves_the_line_moving() -> None:
    """Under gevent, as in a web worker: a request greenlet killed in line (its worker shutting
    down) is dropped, and the lead it was about to take passes to the next in line."""
    done = subprocess.run([sys.executable, "-c", GEVENT_SCRIPT], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr
