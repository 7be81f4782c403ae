"""Kernel timers (xen/common/timer.c): one-shot, on a CPU, fired by its LAPIC.

A :class:`Timer`'s expiry is a LAPIC timer interrupt on its CPU, whose
handler (:func:`timer_interrupt`, ``apic_timer_interrupt``) queues it and raises
TIMER_SOFTIRQ; ``timer_softirq_action`` then calls its function with IRQs
on (``execute_timer``). ``set_timer`` re-arms it, ``stop_timer`` cancels it,
``migrate_timer`` moves it to another CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from .irq import IrqSource

if TYPE_CHECKING:
    from .cpu import PhysCpu
    from .host import Kernel
    from .seam import Proc

TimerFn = Callable[[Any, Any], "Proc"]
"""``fn(cpu, source)``: run in TIMER_SOFTIRQ on the host's CPU when the timer expires."""


class Timer:
    """``struct timer``: ``fn(cpu, timer_source)`` runs in TIMER_SOFTIRQ when it expires.

    Xen keeps each timer once in its CPU's heap (``set_timer`` and ``stop_timer``
    take it out first). The model's queue cannot take an entry out, so a timer
    keeps at most one entry per arming that came earlier than every entry it
    has queued: an arming at or after one of them is carried by the earliest,
    which, when due, queues the arming's own expiry with the order the arming
    took (:meth:`Simulation.order`). Each expiry thus fires at the time and in
    the order a queue entry made by ``set_timer`` would have, while a timer
    re-armed later and later (a timeslice, a periodic tick) holds one entry,
    not one per re-arming.
    """

    # slots: no per-instance dict (hundreds per host)
    __slots__ = ("_armed", "_queued", "machine", "source")

    def __init__(
        self, machine: Kernel[Any, Any], name: str, cpu: int, fn: TimerFn, kind: str
    ) -> None:
        self.machine = machine
        self.source = IrqSource(machine, name, cpu, None, kind)
        self.source.handler = partial(timer_interrupt, self.source)
        self.source.timer_fn = fn
        self._armed: tuple[int, int] | None = None  # (expiry, order) of the current arming
        self._queued: list[int] = []  # times of this timer's queue entries, latest first

    def set_timer(self, delay_ns: int) -> None:
        """Expire ``delay_ns`` from now (replacing any earlier expiry)."""
        sim = self.machine.sim
        expiry = sim.clock.now + max(delay_ns, 0)
        order = sim.order()
        self._armed = (expiry, order)
        self._queue(expiry, order)

    def stop_timer(self) -> None:
        """Cancel the pending expiry."""
        self._armed = None

    def migrate_timer(self, cpu: int) -> None:
        """Fire on ``cpu`` from now on."""
        self.source.cpu = cpu

    def _queue(self, expiry: int, order: int) -> None:
        """Queue an entry at ``expiry`` unless an entry already queued comes by then."""
        queued = self._queued
        if queued and queued[-1] <= expiry:
            return
        queued.append(expiry)
        self.machine.sim.call_at(expiry, order, self._due)

    def _due(self, order: int) -> None:
        self._queued.pop()  # this timer's earliest entry
        armed = self._armed
        if armed is None:
            return
        if armed[1] == order:  # the current arming's own entry: it expires
            self._armed = None
            self.source.raise_irq()
            return
        self._queue(*armed)  # armed for later since this entry was queued


def timer_interrupt(source: IrqSource, cpu: PhysCpu[Any, Any], seq: int) -> Proc:
    """LAPIC ``timer_interrupt``: queue the expired timer, raise TIMER_SOFTIRQ.

    A timer's handler is ``partial(timer_interrupt, source)``: positional, because a
    partial with keywords holds a ~140-byte dict, and a host has hundreds of timers
    (256 on the seed's host: per-pCPU and per-vCPU ones)."""
    cpu.expired_timers.append((source, seq))
    cpu.raise_softirq(cpu.machine.softirq_nr["TIMER_SOFTIRQ"])
    return
    yield


def timer_softirq_action(cpu: PhysCpu[Any, Any]) -> Proc:
    """``timer_softirq_action``: ``execute_timer`` for each expired timer, IRQs on."""
    while cpu.expired_timers:
        source, _seq = cpu.expired_timers.pop(0)
        yield from cpu.work(cpu.costs.timer_fn_ns)
        assert source.timer_fn is not None
        yield from source.timer_fn(cpu, source)
