"""Garbage collection that does not stall requests.

A full collection walks every object the collector tracks. After start-up that is the
many objects of modules, classes and the app, none of which will ever be garbage, and
walking them was long enough to be the slowest requests' time (figures in
benchmarks/RESULTS.md, "Growth"). `gc.freeze()` moves them out of the collector's sight;
objects made later are collected as before.
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
