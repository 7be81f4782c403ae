"""Hypervisor timers (xen/common/timer.c): one-shot, on a CPU, fired by its LAPIC.

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
    from .cpu import PCpu
    from .machine import Machine
    from .seam import Proc

TimerFn = Callable[["PCpu", Any], "Proc"]


class Timer:
    """``struct timer``: ``fn(cpu, timer_source)`` runs in TIMER_SOFTIRQ when it expires."""

    def __init__(self, machine: Machine, name: str, cpu: int, fn: TimerFn, kind: str) -> None:
        self.machine = machine
        self.source = IrqSource(machine, name, cpu, None, kind)
        self.source.handler = partial(timer_interrupt, source=self.source)
        self.source.timer_fn = fn
        self._armed = 0

    def set_timer(self, delay_ns: int) -> None:
        """Expire ``delay_ns`` from now (replacing any earlier expiry)."""
        self._armed += 1
        armed = self._armed
        self.machine.sim.call_later(max(delay_ns, 0), lambda _e: self._expire(armed))

    def stop_timer(self) -> None:
        """Cancel the pending expiry."""
        self._armed += 1

    def migrate_timer(self, cpu: int) -> None:
        """Fire on ``cpu`` from now on."""
        self.source.cpu = cpu

    def _expire(self, armed: int) -> None:
        if armed == self._armed:
            self._armed += 1
            self.source.raise_irq()


def timer_interrupt(cpu: PCpu, seq: int, source: IrqSource) -> Proc:
    """LAPIC ``timer_interrupt``: queue the expired timer, raise TIMER_SOFTIRQ."""
    cpu.expired_timers.append((source, seq))
    cpu.raise_softirq(cpu.machine.softirq_nr["TIMER_SOFTIRQ"])
    return
    yield


def timer_softirq_action(cpu: PCpu) -> Proc:
    """``timer_softirq_action``: ``execute_timer`` for each expired timer, IRQs on."""
    while cpu.expired_timers:
        source, _seq = cpu.expired_timers.popleft()
        yield from cpu.work(cpu.costs.timer_fn_ns)
        assert source.timer_fn is not None
        yield from source.timer_fn(cpu, source)
