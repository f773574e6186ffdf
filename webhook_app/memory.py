"""Garbage collection that does not stall requests.

A full collection walks every object the collector tracks. After start-up that is about
100,000 objects (modules, classes, the app), none of which will ever be garbage, and
walking them took 30-40 ms on a 2-core machine: often enough to be the p99 of
`GET /api/events`. `gc.freeze()` moves them out of the collector's sight; objects made
later are collected as before.
"""

from __future__ import annotations

import gc

_frozen = False


def freeze_startup_objects() -> None:
    """Once per process, when start-up is done: what is alive now is left to reference counting.

    Only once, so that a process building many apps (the tests) does not pin each one's
    cyclic garbage; a forked child inherits the frozen set.
    """
    global _frozen
    if not _frozen:
        gc.freeze()
        _frozen = True
