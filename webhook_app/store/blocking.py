"""Blocking calls in a gevent web worker, without stopping its other greenlets."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def evented() -> bool:
    """Whether this process runs on gevent's event loop (a web worker): its threads are greenlets."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("threading"))


def off_the_event_loop(function: Callable[..., T], *args: Any) -> T:
    """Call `function` in gevent's thread pool when this process is `evented` (its other greenlets
    run meanwhile; the caller's waits), else here. For blocking calls that release the GIL."""
    if not evented():
        return function(*args)
    from gevent import get_hub

    return get_hub().threadpool.apply(function, args)
