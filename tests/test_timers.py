"""Kernel timers (kernel/timers.py): when an expiry fires, and what it leaves queued."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import example, given, settings
from hypothesis import strategies as st

from taskletsim.hv.machine import Machine
from taskletsim.kernel.irq import IrqSource
from taskletsim.kernel.timers import Timer

from .helpers import tiny


class _LoggedSource(IrqSource):
    """An interrupt source that, instead of raising its interrupt, logs when it would."""

    __slots__ = ("log",)

    def raise_irq(self) -> None:
        self.log.append((self.machine.sim.now, "timer"))


def _timer(m: Machine, log: list[tuple[int, str]]) -> Timer:
    timer = Timer(m, "test:timer", 0, lambda cpu, source: iter(()), "timer")
    timer.source = _LoggedSource(m, "test:timer-log", 0, None, "timer")
    timer.source.log = log
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


class _EntryPerArming:
    """The reference: a queue entry per ``set_timer``, as Xen's semantics need and the
    model had before (an expiry is honoured if no arming or stop came after it)."""

    def __init__(self, m: Machine, fire: Callable[[], None]) -> None:
        self.sim, self.fire, self.armed = m.sim, fire, 0

    def set_timer(self, delay_ns: int) -> None:
        self.armed += 1
        armed = self.armed
        self.sim.call_later(max(delay_ns, 0), lambda _e: self._expire(armed))

    def stop_timer(self) -> None:
        self.armed += 1

    def _expire(self, armed: int) -> None:
        if armed == self.armed:
            self.armed += 1
            self.fire()


_STEPS = st.lists(
    st.tuples(
        st.integers(0, 40),  # when (small numbers: equal times are what is tested)
        st.sampled_from(("set", "stop", "mark")),
        st.integers(-2, 40),  # set: the delay; mark: when the marker is due, from then
    ),
    max_size=30,
)


def _timer_log(steps: list[tuple[int, str, int]], reference: bool) -> list[tuple[int, str]]:
    m = tiny()
    log: list[tuple[int, str]] = []
    if reference:
        timer: Timer | _EntryPerArming = _EntryPerArming(m, lambda: log.append((m.sim.now, "t")))
    else:
        timer = _timer(m, log)
    for k, (when, op, x) in enumerate(steps):
        if op == "set":
            _at(m, when, lambda x=x: timer.set_timer(x))
        elif op == "stop":
            _at(m, when, timer.stop_timer)
        else:
            mark = (f"mark {k}",)
            _at(
                m,
                when,
                lambda x=x, mark=mark: _at(
                    m, m.sim.now + max(x, 0), lambda: log.append((m.sim.now, *mark))
                ),
            )
    m.sim.run(1000)
    return [(t, "t" if what == "timer" else what) for t, what in log]


@settings(max_examples=300, deadline=None)
@given(_STEPS)
@example([(0, "set", 100), (10, "mark", 90), (20, "set", 80)])  # re-armed for the same time
def test_expiries_fire_when_and_in_the_order_an_entry_per_arming_would(
    steps: list[tuple[int, str, int]],
) -> None:
    assert _timer_log(steps, reference=False) == _timer_log(steps, reference=True)
