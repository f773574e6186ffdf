"""Alarms: one thread rings every deadline in time, cancelled ones never, and keeps no garbage."""

from __future__ import annotations

import threading

from webhook_app import alarms


def test_alarms_ring_in_order_of_their_time_and_cancelled_ones_never() -> None:
    rung: list[str] = []
    done = threading.Event()
    alarms.after(0.3, lambda: (rung.append("late"), done.set()))
    alarms.after(0.1, lambda: rung.append("early"))
    alarms.after(0.2, lambda: rung.append("cancelled")).cancel()
    assert done.wait(5)
    assert rung == ["early", "late"]


def test_an_alarm_that_raises_does_not_stop_the_others() -> None:
    rang = threading.Event()
    alarms.after(0.05, lambda: 1 / 0)
    alarms.after(0.1, rang.set)
    assert rang.wait(5)


def test_one_thread_rings_them_all() -> None:
    before = threading.active_count()
    for _ in range(200):
        alarms.after(30, lambda: None).cancel()
    assert threading.active_count() <= before + 1


def test_cancelled_alarms_do_not_pile_up() -> None:
    """A busy worker sets and cancels a deadline per call: the heap stays the size of what is pending."""
    for _ in range(20_000):
        alarms.after(60, lambda: None).cancel()
    assert len(alarms._clock._heap) <= 2 * alarms._COMPACT_ABOVE
