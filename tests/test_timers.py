"""Hypervisor timers (hv/timers.py): when an expiry fires, and what it leaves queued."""

from __future__ import annotations

from collections.abc import Callable

from taskletsim.hv.machine import Machine
from taskletsim.hv.timers import Timer

from .hvhelpers import tiny


def _timer(m: Machine, log: list[tuple[int, str]]) -> Timer:
    timer = Timer(m, "test:timer", 0, lambda cpu, source: iter(()), "timer")
    timer.source.raise_irq = lambda: log.append((m.sim.now, "timer"))  # type: ignore[method-assign]
    return timer


def _at(m: Machine, ns: int, action: Callable[[], object]) -> None:
    m.sim.call_later(ns - m.sim.now, lambda _e: action())


def test_a_timer_rearmed_later_and_later_holds_one_queue_entry() -> None:
    """Xen's heap holds a timer once; a timeslice re-armed at every dispatch must not
    leave an entry per re-arming in the model's queue."""
    m = tiny()
    log: list[tuple[int, str]] = []
    timer = _timer(m, log)
    m.sim.run(1)
    before = len(m.sim._queue)
    for k in range(10):
        timer.set_timer(1000 + 100 * k)
    assert len(m.sim._queue) == before + 1
    m.sim.run(5000)
    assert log == [(1 + 1900, "timer")]  # the last arming's expiry, once


def test_an_expiry_keeps_the_place_its_arming_took_among_equal_times() -> None:
    """Armed at 0 for 500, re-armed at 100 for 600: at 600 it fires after what was
    scheduled for 600 before the re-arming, before what was scheduled after it, as an
    entry queued by ``set_timer`` would."""
    m = tiny()
    log: list[tuple[int, str]] = []
    timer = _timer(m, log)
    timer.set_timer(500)
    _at(m, 50, lambda: _at(m, 600, lambda: log.append((m.sim.now, "scheduled at 50"))))
    _at(m, 100, lambda: timer.set_timer(500))
    _at(m, 150, lambda: _at(m, 600, lambda: log.append((m.sim.now, "scheduled at 150"))))
    m.sim.run(5000)
    assert log == [(600, "scheduled at 50"), (600, "timer"), (600, "scheduled at 150")]


def test_a_stopped_timer_rearmed_earlier_then_later_fires_at_each_expiry() -> None:
    m = tiny()
    log: list[tuple[int, str]] = []
    timer = _timer(m, log)
    timer.set_timer(1000)
    _at(m, 100, timer.stop_timer)
    _at(m, 200, lambda: timer.set_timer(300))  # 500: before the entry queued for 1000
    _at(m, 600, lambda: timer.set_timer(1000))  # 1600: carried by the entry at 1000
    _at(m, 700, lambda: timer.set_timer(900))  # 1600 again, a later arming: it wins
    m.sim.run(5000)
    assert log == [(500, "timer"), (1600, "timer")]
    assert timer._queued == []
