"""A physical CPU of any host: hard interrupts, IRQ-off windows, spinlocks, softirqs.

What every kernel's CPU does, whatever runs on it: interrupts (``deliver_irq``)
are *latched* while the CPU has interrupts disabled and taken at once when
they are enabled; a CPU parked at an interruptible point (guest mode,
``hlt``, kernel work with IRQs on, a spin with IRQs on) is resumed early by
redirecting its SimPy process, without an exception or an extra process per
interrupt. As in the local APIC, a vector has one pending request (its IRR
bit): an arrival of a vector already pending merges into it
(``IRQ_COALESCE``); the bit clears when the CPU accepts the interrupt
(``do_IRQ`` entry). Code is written as generator methods named after the
functions they mirror (Xen's names where Xen and Linux share them);
``yield from`` is a call.

A host's CPU subclasses :class:`PhysCpu` with what only that host has: its
life (:meth:`PhysCpu._main`: the idle loop, and for Xen the VM-entry path and
guest mode) and its softirq engine (:meth:`PhysCpu.do_softirq`).
:class:`taskletsim.hv.cpu.PCpu` is Xen's.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from mypy_extensions import mypyc_attr
from simpy.events import Event

from ..core.events import COALESCE_LAPIC
from ..platform.locks import SpinLock
from .seam import CpuCosts, Proc

if TYPE_CHECKING:
    from .host import Kernel
    from .irq import IrqSource


HostT = TypeVar("HostT", bound="Kernel[Any, Any]")
CostsT = TypeVar("CostsT", bound=CpuCosts)

_IRQ = "irq"  # value a parked process is resumed with when an interrupt arrives


@mypyc_attr(allow_interpreted_subclasses=True)  # the Linux host's CPU is not compiled
class PhysCpu(Generic[HostT, CostsT]):
    """Physical CPU ``id`` of ``machine``: its interrupt flag, latched interrupts, softirq
    mask; one SimPy process runs its life (:meth:`_main`, the host's). ``HostT`` is the
    host's class, ``CostsT`` its step costs'."""

    # slots: no per-instance dict (CPUs, sources and timers come by the hundred)
    __slots__ = (
        "_clock",
        "_interruptible",
        "_spin_lock",
        "costs",
        "env",
        "expired_timers",
        "id",
        "ipi",
        "ipi_calls",
        "irqs_enabled",
        "irr",
        "latched",
        "machine",
        "online",
        "proc",
        "sim",
        "socket",
        "softirq_engine",
        "softirq_pending",
        "switched",
        "trace",
    )

    def __init__(self, machine: HostT, cpu_id: int) -> None:
        self.machine = machine
        self.id = cpu_id
        self.socket = machine.topology.socket_list[cpu_id]
        self.sim = machine.sim
        self.env = machine.sim.env
        self.costs: CostsT = machine.costs
        self.trace = machine.sim.trace
        self._clock = machine.sim.clock
        self.irqs_enabled = True
        self.softirq_pending = 0
        # FIFO queues are lists (popped at 0): they stay short, and an empty deque is 760 B
        self.latched: list[tuple[IrqSource, int]] = []
        self.irr: set[IrqSource] = set()  # the local APIC's IRR: one pending request per vector
        self.online = True
        self.switched = False
        """Set once ``schedule()`` switched context in this pass: the softirq engine stops."""
        self.ipi_calls: list[Callable[[Self], Proc]] = []
        self.expired_timers: list[tuple[IrqSource, int]] = []
        self.ipi: IrqSource | None = None
        self._interruptible = False
        self._spin_lock: SpinLock | None = None
        self.softirq_engine: Callable[[Any], Proc] | None = None
        """The design's own ``do_softirq`` if it has one (set by the machine)."""
        self.proc = machine.sim.process(self._main())

    # -- the CPU's life (the host's) --------------------------------------------

    def _main(self) -> Proc:
        """What the CPU runs from boot: the host's idle loop and the rest."""
        raise NotImplementedError
        yield

    def do_softirq(self) -> Proc:
        """``do_softirq``: the host's softirq engine, or the design's own."""
        raise NotImplementedError
        yield

    def go_offline(self) -> None:
        """``__cpu_disable``: no more interrupts or softirqs here; the CPU plays dead."""
        self.online = False
        if self._interruptible:
            self._kick(None)

    def play_dead(self) -> Proc:
        """An offline CPU does nothing (``play_dead``); interrupts to it stay latched."""
        self.irqs_enabled = False
        yield Event(self.env)

    def call_function(self, func: Callable[[Self], Proc]) -> None:
        """Run ``func(cpu)`` here in IRQ context, from an IPI (``smp_call_function_single``)."""
        self.ipi_calls.append(func)
        self.machine.send_ipi(self.id)

    def spin_wait(self, event: Event) -> Proc:
        """``cpu_relax()`` until ``event`` fires; with interrupts enabled they are taken
        meanwhile, as a spinning CPU takes them."""
        while not event.triggered:
            if not self.irqs_enabled:
                yield event
                return
            if self.latched:
                yield from self._take_irqs()
                continue
            self._interruptible = True
            value = yield event
            self._interruptible = False
            if value is _IRQ:
                yield from self._take_irqs()

    # -- interrupts ---------------------------------------------------------

    def deliver_irq(self, source: IrqSource, seq: int) -> bool:
        """An interrupt from ``source`` reaches this CPU's local APIC (called outside its
        process). Returns False if the vector was already pending: it merges into it."""
        if source in self.irr:
            self.trace.irq_coalesce(self.id, source.id, COALESCE_LAPIC)
            return False
        self.trace.irq_raise(self.id, source.id, seq)
        self.irr.add(source)
        self.latched.append((source, seq))
        if self._interruptible and self.online:
            lock = self._spin_lock
            if lock is not None and (lock.holder == self.id or lock.is_handing_to(self.id)):
                return True  # the final xchg of the spin loop is atomic: taken after the unlock
            self._kick(_IRQ)
        return True

    def accept_irq(self) -> tuple[IrqSource, int]:
        """The oldest latched interrupt, accepted: its IRR bit clears (it is in service)."""
        source, seq = self.latched.pop(0)
        self.irr.discard(source)
        return source, seq

    def _kick(self, value: object) -> None:
        """Resume the parked process now with ``value``: ``Process.interrupt`` without a throw."""
        self._interruptible = False
        self.proc.redirect(value)

    def _take_irqs(self) -> Proc:
        """Take latched interrupts in order, each with interrupts disabled."""
        while self.latched and self.online:
            source, seq = self.accept_irq()
            self.irqs_enabled = False
            yield from self.do_IRQ(source, seq)
            self.irqs_enabled = True

    def do_IRQ(self, source: IrqSource, seq: int) -> Proc:
        """``do_IRQ`` (xen/arch/x86/irq.c): entry, the action's handler, exit; IRQs off."""
        self.trace.irq_entry(self.id, source.id, seq)
        yield self.costs.irq_entry_ns
        yield from source.handler(self, seq)
        yield self.costs.irq_exit_ns
        self.trace.irq_exit(self.id, source.id, seq)

    def local_irq_disable(self) -> None:
        """``local_irq_disable``: interrupts arriving now are latched."""
        self.irqs_enabled = False

    def local_irq_enable(self) -> Proc:
        """``local_irq_enable``: latched interrupts are taken at once."""
        self.irqs_enabled = True
        if self.latched:
            yield from self._take_irqs()

    def local_irq_save(self) -> bool:
        """``local_irq_save``: disable, return the previous flag."""
        flags = self.irqs_enabled
        self.irqs_enabled = False
        return flags

    def local_irq_restore(self, flags: bool) -> Proc:
        """``local_irq_restore``; the save/restore pair costs ``irq_save_restore_ns``."""
        if self.costs.irq_save_restore_ns:
            yield self.costs.irq_save_restore_ns
        if flags:
            yield from self.local_irq_enable()

    def work(self, ns: int) -> Proc:
        """Run ``ns`` of hypervisor code; with IRQs on, handlers run inside it and stretch it."""
        if ns <= 0:
            return
        if not self.irqs_enabled:
            yield ns
            return
        if self.latched:
            yield from self._take_irqs()
        remaining = ns
        while remaining > 0:
            start = self._clock.now
            self._interruptible = True
            value = yield remaining
            self._interruptible = False
            remaining -= self._clock.now - start
            if value is not _IRQ:
                return
            yield from self._take_irqs()

    # -- spinlocks (xen/common/spinlock.c, 2014) -----------------------------

    def _acquire(self, lock: SpinLock, spin_irqs_on: bool, irq_disable: bool = False) -> Proc:
        """Spin until ``lock`` is ours; IRQs are disabled on return (and first, with
        ``irq_disable``: ``_spin_lock_irq``).

        The first try is made with IRQs off. A lock kind that
        :attr:`~taskletsim.platform.locks.SpinLock.spins_irqs_enabled` (TTAS,
        Xen 2014) re-enables them while spinning (``_spin_lock_irq``, and
        ``_spin_lock_irqsave`` when the caller had them on); the others (a
        ticket lock, Xen 4.6; a queued lock, Linux) spin with them off. A
        spinner that takes an interrupt leaves the queue for the handler's
        duration.
        """
        if irq_disable:
            self.irqs_enabled = False
        cpu = self.id
        if not spin_irqs_on or not lock.spins_irqs_enabled or not lock.busy:
            yield lock.acquire_event(cpu, irqs_off=True)
            return
        granted = Event(self.env)
        lock.acquire(cpu, granted.succeed, irqs_off=False)
        while not granted.triggered:
            if self.latched and not lock.is_handing_to(cpu):
                waiter = lock.withdraw(cpu)
                self.irqs_enabled = True
                yield from self._take_irqs()
                self.irqs_enabled = False
                lock.resume(waiter)
                continue
            self._spin_lock = lock
            self._interruptible = True
            yield granted
            self._interruptible = False
            self._spin_lock = None

    def spin_lock(self, lock: SpinLock) -> Proc:
        """``_spin_lock``: spins with interrupts as they are."""
        flags = self.irqs_enabled
        yield from self._acquire(lock, flags)
        self.irqs_enabled = flags

    def spin_unlock(self, lock: SpinLock) -> None:
        """``_spin_unlock``."""
        lock.release(self.id)

    # The paths below that hand on to another are generators, or return the generator of
    # one that does all their work: nothing happens until the caller drives the step, so
    # a forgotten ``yield from`` leaves the whole step undone, never half of it.

    def spin_lock_irq(self, lock: SpinLock) -> Proc:
        """``_spin_lock_irq``: disable interrupts, spin; returns with them disabled."""
        return self._acquire(lock, True, irq_disable=True)

    def spin_unlock_irq(self, lock: SpinLock) -> Proc:
        """``_spin_unlock_irq``: unlock, then enable interrupts (``local_irq_enable``:
        latched interrupts are taken at once)."""
        lock.release(self.id)
        self.irqs_enabled = True
        if self.latched:
            yield from self._take_irqs()

    def spin_lock_irqsave(self, lock: SpinLock) -> Generator[Event | int, Any, bool]:
        """``_spin_lock_irqsave``: returns the saved interrupt flag."""
        flags = self.local_irq_save()
        yield from self._acquire(lock, flags)
        return flags

    def spin_unlock_irqrestore(self, lock: SpinLock, flags: bool) -> Proc:
        """``_spin_unlock_irqrestore``: unlock, then ``local_irq_restore(flags)``."""
        lock.release(self.id)
        if self.costs.irq_save_restore_ns:
            yield self.costs.irq_save_restore_ns
        if flags:
            self.irqs_enabled = True
            if self.latched:
                yield from self._take_irqs()

    # -- softirqs (xen/common/softirq.c) --------------------------------------

    def raise_softirq(self, nr: int) -> None:
        """``raise_softirq``: set the bit on this CPU."""
        self.softirq_pending |= 1 << nr
        self.trace.softirq_raise(self.id, nr, self.id)

    def cpu_raise_softirq(self, target: int, nr: int) -> Proc:
        """``cpu_raise_softirq``: set the bit on ``target``; an IPI only if newly set remotely."""
        other = self.machine.cpus[target]
        bit = 1 << nr
        already = other.softirq_pending & bit
        other.softirq_pending |= bit
        self.trace.softirq_raise(self.id, nr, target)
        if already or other is self:
            return
        yield from self.work(self.costs.ipi_send_ns)
        self.machine.send_ipi(target)

    def run_softirq(self, nr: int) -> Proc:
        """One softirq handler, between ``SOFTIRQ_ENTRY`` and ``SOFTIRQ_EXIT``."""
        self.trace.softirq_entry(self.id, nr)
        yield from self.work(self.costs.softirq_dispatch_ns)
        yield from self.machine.softirq_handlers[nr](self)
        self.trace.softirq_exit(self.id, nr)
