"""Broken variants of the designs and locks (test-only): the invariant checker must catch
each, naming the invariant it breaks (tests/test_mutants.py).

Each mutant changes one thing in a real design or lock, the kind of bug a
patch could bring; everything else is the original code.
"""

from __future__ import annotations

from collections import deque
from typing import ClassVar

from taskletsim.designs.base import STATE_RUN, STATE_SCHED, Proc, Tasklet
from taskletsim.designs.rfc_percpu import RfcPercpu
from taskletsim.designs.xen44_global import Xen44Global
from taskletsim.hv.seam import Cpu
from taskletsim.platform.locks import MCSLock, TicketLock, Waiter


class RfcWithoutRunBit(RfcPercpu):
    """The per-CPU design that forgets ``tasklet_trylock``'s RUN bit: a tasklet scheduled
    on another CPU while it runs runs there too, at the same time."""

    name = "mutant-rfc-no-run-bit"
    broken: ClassVar[str] = "tasklet-runner"

    def do_tasklet_work_percpu(self, cpu: Cpu) -> Proc:
        queue = self.softirq_list[cpu.id]
        cpu.local_irq_disable()
        yield from cpu.work(self._this_cpu_ns + self._list_ns)
        t = queue.pop(0) if queue else None
        poke = bool(queue)
        yield from cpu.local_irq_enable()
        if t is None:
            return
        yield from self.atomic(cpu, t)
        t.state |= STATE_RUN  # the bug: claimed whether or not RUN was set
        self.traced_claim(cpu, t)
        t.state &= ~STATE_SCHED
        yield from self.run_tasklet(cpu, t)
        t.state &= ~STATE_RUN
        if poke:
            yield from self._raise(cpu)


class RfcEnqueuesTwice(RfcPercpu):
    """The per-CPU design that appends a tasklet to its list twice: it runs twice for one
    schedule (its own sanity check, which would stop the run first, taken out)."""

    name = "mutant-rfc-enqueue-twice"
    broken: ClassVar[str] = "tasklet-scheduled"

    def do_tasklet_work_percpu(self, cpu: Cpu) -> Proc:
        queue = self.softirq_list[cpu.id]
        cpu.local_irq_disable()
        yield from cpu.work(self._this_cpu_ns + self._list_ns)
        t = queue.pop(0) if queue else None
        poke = bool(queue)
        yield from cpu.local_irq_enable()
        if t is None:
            return
        yield from self.atomic(cpu, t)
        if not t.state & STATE_RUN:
            t.state |= STATE_RUN
            self.traced_claim(cpu, t)
            t.state &= ~STATE_SCHED
            yield from self.run_tasklet(cpu, t)
            t.state &= ~STATE_RUN
            if poke:
                yield from self._raise(cpu)
            return
        cpu.local_irq_disable()
        queue.append(t)
        yield from self._raise(cpu)
        yield from cpu.local_irq_enable()

    def tasklet_enqueue(self, cpu: Cpu, t: Tasklet) -> Proc:
        yield from super().tasklet_enqueue(cpu, t)
        self.softirq_list[t.scheduled_on].append(t)  # the bug


class GlobalListOutsideLock(Xen44Global):
    """Xen 4.4's design that edits the list (and schedules) before taking the lock."""

    name = "mutant-global-unlocked-list"
    broken: ClassVar[str] = "tasklet-lock"

    def tasklet_schedule_on_cpu(self, cpu: Cpu, t: Tasklet, target: int, cause: int = -1) -> Proc:
        if not t.is_dead:
            t.scheduled_on = target
            if not t.is_running:
                self._list_del(t)
                yield from self.tasklet_enqueue(cpu, t)
            self.traced_schedule(cpu, t, cause)  # the bug: all of it outside the lock
        flags = yield from cpu.spin_lock_irqsave(self.tasklet_lock)
        yield from cpu.work(self._list_ns)
        yield from cpu.spin_unlock_irqrestore(self.tasklet_lock, flags)


class GlobalDropsReschedule(Xen44Global):
    """Xen 4.4's design that forgets a schedule that arrived while the tasklet ran."""

    name = "mutant-global-drops-reschedule"
    broken: ClassVar[str] = "tasklet-lost"

    def do_tasklet_work(self, cpu: Cpu, queue: dict[Tasklet, None]) -> Proc:
        if not queue or not cpu.online:
            return
        t = next(iter(queue))
        self._list_del(t)
        t.scheduled_on = -1
        t.is_running = True
        self.traced_claim(cpu, t)
        yield from cpu.work(self._list_ns)
        yield from cpu.spin_unlock_irq(self.tasklet_lock)
        yield from self.run_tasklet(cpu, t)
        yield from cpu.spin_lock_irq(self.tasklet_lock)
        t.is_running = False
        yield from cpu.work(self._list_ns)
        t.scheduled_on = -1  # the bug: the re-enqueue of a re-scheduled tasklet is gone


class GlobalForgetsYieldFrom(Xen44Global):
    """Xen 4.4's design with a ``yield from`` missing before ``spin_unlock_irqrestore`` in
    ``tasklet_schedule_on_cpu``: the step is never driven, so none of it happens (the lock
    stays held; a path that did part of its work when called would have released it and
    left interrupts off, silently)."""

    name = "mutant-global-forgets-yield-from"
    broken: ClassVar[str] = "lock-released"

    def tasklet_schedule_on_cpu(self, cpu: Cpu, t: Tasklet, target: int, cause: int = -1) -> Proc:
        flags = yield from cpu.spin_lock_irqsave(self.tasklet_lock)
        if not t.is_dead:
            t.scheduled_on = target
            yield from cpu.work(self._list_ns)
            if not t.is_running:
                self._list_del(t)
                yield from self.tasklet_enqueue(cpu, t)
            self.traced_schedule(cpu, t, cause)
        cpu.spin_unlock_irqrestore(self.tasklet_lock, flags)  # the bug: never driven


class TwoHolderLock(MCSLock):
    """An MCS lock that hands over to the next two waiters at once."""

    kind = "mcs"
    broken: ClassVar[str] = "lock-holder"

    def _handoff_done(self, _event: object) -> None:
        super()._handoff_done(_event)
        if self._queue:  # the bug: the next waiter is granted too
            cpu, granted, since, _ = self._queue.popleft()
            self.nwait -= 1
            self.sim.trace.lock_acquire(cpu, self.id, since)
            granted()

    def release(self, cpu: int) -> None:
        self.holder = cpu  # (so that the model's own check lets both release)
        super().release(cpu)


class LifoTicketLock(TicketLock):
    """A ticket lock that serves the latest waiter first."""

    kind = "ticket"
    broken: ClassVar[str] = "lock-fifo"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._queue: deque[Waiter] = deque()

    def _pick_next(self, releaser: int) -> tuple[Waiter, int]:
        waiter = self._queue.pop()  # the bug: the tail, not the head
        self._count(self._socket_of[waiter[0]], -1)
        return waiter, self._cost[releaser][waiter[0]]


DESIGN_MUTANTS = (
    RfcWithoutRunBit,
    RfcEnqueuesTwice,
    GlobalListOutsideLock,
    GlobalDropsReschedule,
    GlobalForgetsYieldFrom,
)
LOCK_MUTANTS = (TwoHolderLock, LifoTicketLock)
