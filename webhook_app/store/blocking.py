"""Blocking calls in a gevent web worker, without stopping its other greenlets."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def off_the_event_loop(function: Callable[..., T], *args: Any) -> T:
    """Call `function` in gevent's thread pool when this process is gevent's (its other greenlets
    run meanwhile; the caller's waits), else here. For blocking calls that release the GIL."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None or not monkey.is_module_patched("threading"):
        return function(*args)
    from gevent import get_hub

    return get_hub().threadpool.apply(function, args)
