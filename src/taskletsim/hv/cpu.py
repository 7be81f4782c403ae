"""A physical CPU of a Xen 4.4 host (x86, VMX): interrupts, softirqs, idle loop, VM entry/exit.

One SimPy process per CPU runs what Xen runs on it, function by function:
the idle loop (``xen/arch/x86/domain.c:idle_loop``) when the idle vCPU is
current, the VM-entry path (``xen/arch/x86/hvm/vmx/entry.S``) and guest
execution when a guest vCPU is. Hypervisor code is written as generator
methods named after the Xen functions they mirror; ``yield from`` is a call.

Interrupts (``deliver_irq``) are *latched* while the CPU has interrupts
disabled and taken at once when they are enabled: a CPU parked at an
interruptible point (guest mode, ``hlt``, hypervisor work with IRQs on, a
TTAS spin with IRQs on) is resumed early by redirecting its SimPy process,
without an exception or an extra process per interrupt. As in the local
APIC, a vector has one pending request (its IRR bit): an arrival of a vector
already pending merges into it (``IRQ_COALESCE``); the bit clears when the
CPU accepts the interrupt (``do_IRQ`` entry).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from simpy.events import Event

from ..core.events import COALESCE_LAPIC, EventKind
from ..platform.locks import SpinLock
from .seam import Proc
from .vocabulary import EXIT_EXTERNAL_INTERRUPT, EXIT_HLT, EXIT_NONE, EXIT_VMCALL

if TYPE_CHECKING:
    from .guests import VCpu
    from .irq import IrqSource
    from .machine import Machine


_IRQ = "irq"  # value a parked process is resumed with when an interrupt arrives

_IRQ_RAISE = int(EventKind.IRQ_RAISE)
_IRQ_ENTRY = int(EventKind.IRQ_ENTRY)
_IRQ_EXIT = int(EventKind.IRQ_EXIT)
_SOFTIRQ_RAISE = int(EventKind.SOFTIRQ_RAISE)
_SOFTIRQ_ENTRY = int(EventKind.SOFTIRQ_ENTRY)
_SOFTIRQ_EXIT = int(EventKind.SOFTIRQ_EXIT)
_VM_EXIT = int(EventKind.VM_EXIT)
_VM_ENTRY = int(EventKind.VM_ENTRY)
_VIRQ_INJECT = int(EventKind.VIRQ_INJECT)
_IRQ_COALESCE = int(EventKind.IRQ_COALESCE)


class PCpu:
    """Physical CPU ``id``: its interrupt flag, latched interrupts, softirq mask, current vCPU."""

    # slots: no per-instance dict (vCPUs, CPUs, sources and timers come by the hundred)
    __slots__ = (
        "_clock",
        "_emit",
        "_interruptible",
        "_spin_lock",
        "costs",
        "cross_calls",
        "current",
        "deferred",
        "env",
        "expired_timers",
        "id",
        "idle_vcpu",
        "in_guest",
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
    )

    def __init__(self, machine: Machine, cpu_id: int, idle_vcpu: VCpu) -> None:
        self.machine = machine
        self.id = cpu_id
        self.socket = machine.topology.socket_list[cpu_id]
        self.sim = machine.sim
        self.env = machine.sim.env
        self.costs = machine.costs
        self._emit = machine.sim.emit
        self._clock = machine.sim.clock
        self.irqs_enabled = True
        self.softirq_pending = 0
        # FIFO queues are lists (popped at 0): they stay short, and an empty deque is 760 B
        self.latched: list[tuple[IrqSource, int]] = []
        self.irr: set[IrqSource] = set()  # the local APIC's IRR: one pending request per vector
        self.online = True
        self.idle_vcpu = idle_vcpu
        self.current: VCpu = idle_vcpu
        self.in_guest = False
        self.switched = False
        self.deferred: list[Callable[[PCpu], Proc]] = []
        self.ipi_calls: list[Callable[[PCpu], Proc]] = []
        self.cross_calls = 0  # on_selected_cpus calls to this CPU still awaited by a caller
        self.expired_timers: list[tuple[IrqSource, int]] = []
        self.ipi: IrqSource | None = None
        self._interruptible = False
        self._spin_lock: SpinLock | None = None
        self.softirq_engine: Callable[[PCpu], Proc] | None = None
        """The design's own ``do_softirq`` if it has one (set by the machine)."""
        self.proc = machine.sim.process(self._main())

    # -- the CPU's life -----------------------------------------------------

    def _main(self) -> Proc:
        while self.online:
            self.switched = False
            if self.current.is_idle:
                yield from self.idle_loop()
            else:
                yield from self.vmx_asm_do_vmentry()
                if not self.switched:
                    reason = yield from self.run_guest()
                    yield from self.vmx_vmexit_handler(reason)
        yield from self.play_dead()

    def go_offline(self) -> None:
        """``__cpu_disable``: no more interrupts or softirqs here; the CPU plays dead."""
        self.online = False
        if self._interruptible:
            self._kick(None)

    def play_dead(self) -> Proc:
        """An offline CPU does nothing (``play_dead``); interrupts to it stay latched."""
        self.irqs_enabled = False
        yield Event(self.env)

    def idle_loop(self) -> Proc:
        """``idle_loop`` (xen/arch/x86/domain.c): ``pm_idle(); do_tasklet(); do_softirq();``."""
        while self.online and not self.switched:
            yield from self.pm_idle()
            yield from self.do_tasklet()
            yield from self.do_softirq()

    def pm_idle(self) -> Proc:
        """``default_idle``: halt (``safe_halt``: sti; hlt) unless there is work to do."""
        self.irqs_enabled = False
        if not self.softirq_pending and not self.deferred and self.online:
            self.irqs_enabled = True
            if not self.latched:
                self._interruptible = True
                yield Event(self.env)  # hlt: only an interrupt resumes the CPU
                self._interruptible = False
            yield from self._take_irqs()
        else:
            yield from self.local_irq_enable()

    def do_tasklet(self) -> Proc:
        """``do_tasklet``: vCPU-context work. Here: calls queued by :meth:`call_on_cpu`.

        Xen runs ``continue_hypercall_on_cpu`` work (e.g. CPU offlining) as
        vCPU-context tasklets in the idle vCPU; the model keeps their lock
        traffic out, since neither path of the seed uses them.
        """
        while self.deferred:
            yield from self.deferred.pop(0)(self)

    def call_on_cpu(self, work: Callable[[PCpu], Proc]) -> None:
        """Run ``work(cpu)`` at this CPU's next idle-loop pass (woken by an event-check IPI)."""
        self.deferred.append(work)
        if self.ipi is not None:
            self.ipi.raise_irq()

    def call_function(self, func: Callable[[PCpu], Proc]) -> None:
        """Run ``func(cpu)`` here in IRQ context, from an IPI (``smp_call_function_single``)."""
        self.ipi_calls.append(func)
        self.machine.send_ipi(self.id)

    def on_selected_cpus(self, target: int, func: Callable[[PCpu], Proc], wait: bool) -> Proc:
        """``on_selected_cpus`` (xen/common/smp.c) for one CPU: under the global
        ``call_lock`` send the call-function IPI to ``target`` and spin until it has
        taken the call (with ``wait``, until ``func`` has returned there). Xen
        asserts that interrupts are enabled: they are taken while spinning."""
        if not self.irqs_enabled:
            raise RuntimeError(f"BUG: on_selected_cpus on CPU {self.id} with interrupts off")
        lock = self.machine.call_lock
        yield from self.spin_lock(lock)
        done = Event(self.env)
        other = self.machine.cpus[target]

        def smp_call_function_interrupt(cpu: PCpu) -> Proc:
            if not wait:
                done.succeed()
            yield from func(cpu)
            if wait:
                done.succeed()

        yield from self.work(self.costs.ipi_send_ns)
        other.cross_calls += 1
        other.call_function(smp_call_function_interrupt)
        yield from self.spin_wait(done)
        other.cross_calls -= 1
        self.spin_unlock(lock)

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
            self._emit((self._clock._now, self.id, _IRQ_COALESCE, source.id, COALESCE_LAPIC))
            return False
        self._emit((self._clock._now, self.id, _IRQ_RAISE, source.id, seq))
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
        self._emit((self._clock._now, self.id, _IRQ_ENTRY, source.id, seq))
        yield self.costs.irq_entry_ns
        yield from source.handler(self, seq)
        yield self.costs.irq_exit_ns
        self._emit((self._clock._now, self.id, _IRQ_EXIT, source.id, seq))

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
            start = self._clock._now
            self._interruptible = True
            value = yield remaining
            self._interruptible = False
            remaining -= self._clock._now - start
            if value is not _IRQ:
                return
            yield from self._take_irqs()

    # -- spinlocks (xen/common/spinlock.c, 2014) -----------------------------

    def _acquire(self, lock: SpinLock, spin_irqs_on: bool) -> Proc:
        """Spin until ``lock`` is ours; IRQs are disabled on return.

        The first try is made with IRQs off. Only a TTAS lock (Xen 2014)
        re-enables them while spinning (``_spin_lock_irq``, and
        ``_spin_lock_irqsave`` when the caller had them on); a ticket lock
        (Xen 4.6) and a queued lock (Linux) spin with them off. A spinner
        that takes an interrupt leaves the queue for the handler's duration.
        """
        cpu = self.id
        if not spin_irqs_on or lock.kind != "ttas" or not lock.busy:
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

    def spin_lock_irq(self, lock: SpinLock) -> Proc:
        """``_spin_lock_irq``: returns with interrupts disabled."""
        self.irqs_enabled = False
        return self._acquire(lock, True)

    def spin_unlock_irq(self, lock: SpinLock) -> Proc:
        """``_spin_unlock_irq``: unlock, then enable interrupts."""
        lock.release(self.id)
        return self.local_irq_enable()

    def spin_lock_irqsave(self, lock: SpinLock) -> Generator[Event | int, Any, bool]:
        """``_spin_lock_irqsave``: returns the saved interrupt flag."""
        flags = self.local_irq_save()
        yield from self._acquire(lock, flags)
        return flags

    def spin_unlock_irqrestore(self, lock: SpinLock, flags: bool) -> Proc:
        """``_spin_unlock_irqrestore``."""
        lock.release(self.id)
        return self.local_irq_restore(flags)

    # -- softirqs (xen/common/softirq.c) --------------------------------------

    def raise_softirq(self, nr: int) -> None:
        """``raise_softirq``: set the bit on this CPU."""
        self.softirq_pending |= 1 << nr
        self._emit((self._clock._now, self.id, _SOFTIRQ_RAISE, nr, self.id))

    def cpu_raise_softirq(self, target: int, nr: int) -> Proc:
        """``cpu_raise_softirq``: set the bit on ``target``; an IPI only if newly set remotely."""
        other = self.machine.cpus[target]
        bit = 1 << nr
        already = other.softirq_pending & bit
        other.softirq_pending |= bit
        self._emit((self._clock._now, self.id, _SOFTIRQ_RAISE, nr, target))
        if already or other is self:
            return
        yield from self.work(self.costs.ipi_send_ns)
        self.machine.send_ipi(target)

    def do_softirq(self) -> Proc:
        """``do_softirq``: the design's softirq engine (Xen's :meth:`xen_do_softirq` unless
        the design brings its own, as ``linux`` does): the engine's generator itself."""
        engine = self.softirq_engine
        return self.xen_do_softirq() if engine is None else engine(self)

    def xen_do_softirq(self) -> Proc:
        """``__do_softirq``: run the lowest pending softirq, re-read the mask, until none.

        Stops early when ``schedule()`` switched context: Xen then resets the
        stack and jumps to the new context's path, which runs the rest.
        """
        while self.online and not self.switched:
            pending = self.softirq_pending
            if not pending:
                break
            nr = (pending & -pending).bit_length() - 1
            self.softirq_pending = pending & ~(1 << nr)
            yield from self.run_softirq(nr)

    def run_softirq(self, nr: int) -> Proc:
        """One softirq handler, between ``SOFTIRQ_ENTRY`` and ``SOFTIRQ_EXIT``."""
        self._emit((self._clock._now, self.id, _SOFTIRQ_ENTRY, nr, 0))
        yield from self.work(self.costs.softirq_dispatch_ns)
        yield from self.machine.softirq_handlers[nr](self)
        self._emit((self._clock._now, self.id, _SOFTIRQ_EXIT, nr, 0))

    # -- the VM-entry path and guest mode (xen/arch/x86/hvm/vmx) ------------

    def vmx_asm_do_vmentry(self) -> Proc:
        """``vmx_asm_do_vmentry``: ``vmx_intr_assist``; cli; softirqs pending? sti,
        ``do_softirq`` and start over; else VM entry."""
        while True:
            yield from self.vmx_intr_assist()
            self.irqs_enabled = False
            if self.softirq_pending and not self.machine.design.softirqs_deferred(self):
                yield from self.local_irq_enable()
                yield from self.do_softirq()
                if self.switched:
                    return
                continue
            break
        v = self.current
        yield self.costs.vmentry_ns
        self._emit((self._clock._now, self.id, _VM_ENTRY, v.id, 0))
        self.in_guest = True

    def vmx_intr_assist(self) -> Proc:
        """``vmx_intr_assist``: inject the current vCPU's pending virtual interrupts.

        The vLAPIC's pending vectors, and the event-channel upcall vector if
        ``evtchn_upcall_pending`` is set (``hvm_vcpu_has_pending_irq``): every
        port pending then is handled by the guest's one upcall, which clears
        the flag and the ports. Xen injects one vector per VM entry and asks
        for an interrupt-window exit for the next; the model injects all
        pending ones at this entry.
        """
        v = self.current
        yield from self.work(self.costs.intr_assist_ns)
        if v.vlapic_irr:
            pending = v.vlapic_irr
            v.vlapic_irr = {}
            for source in pending:
                self._emit((self._clock._now, self.id, _VIRQ_INJECT, source.id, v.id))
                yield from self.work(self.costs.inject_ns)
                v.virq_injected(source, self.machine)
        if v.upcall_pending:
            ports = v.evtchn_pending
            v.evtchn_pending = {}
            v.upcall_pending = False
            for source in ports:
                self._emit((self._clock._now, self.id, _VIRQ_INJECT, source.id, v.id))
            yield from self.work(self.costs.inject_ns)
            for source in ports:
                v.virq_injected(source, self.machine)

    def run_guest(self) -> Generator[Event | int, Any, int]:
        """Guest mode until a VM exit: an interrupt, an EOI write, a hypercall or ``hlt``.

        Work the guest finishes without exiting (an EOI APICv handles, say)
        is followed at once by its next piece, still in guest mode.
        """
        v = self.current
        reason = EXIT_EXTERNAL_INTERRUPT
        while not self.latched:
            need, reason_after = v.guest_work()
            start = self._clock._now
            self.irqs_enabled = True
            self._interruptible = True
            value = yield (Event(self.env) if need is None else need)
            self._interruptible = False
            self.irqs_enabled = False
            v.guest_ran(self._clock._now - start)
            if value is _IRQ:
                break
            if reason_after != EXIT_NONE:
                reason = reason_after
                break
        self.in_guest = False
        return reason

    def vmx_vmexit_handler(self, reason: int) -> Proc:
        """``vmx_vmexit_handler``: VM exit, then the handler for ``reason`` (an
        :class:`ExitReason`), IRQs back on."""
        v = self.current
        self.irqs_enabled = False
        self._emit((self._clock._now, self.id, _VM_EXIT, v.id, reason))
        yield self.costs.vmexit_ns
        if reason == EXIT_EXTERNAL_INTERRUPT:
            if self.latched:  # vmx_do_extint -> do_IRQ
                source, seq = self.accept_irq()
                yield from self.do_IRQ(source, seq)
            yield from self.local_irq_enable()
        elif reason == EXIT_HLT:
            yield from self.local_irq_enable()
            yield from self.machine.hvm_hlt(self, v)
        elif reason == EXIT_VMCALL:
            yield from self.local_irq_enable()
            yield from self.machine.hvm_do_hypercall(self, v)
        else:
            yield from self.local_irq_enable()
            yield from self.machine.hvm_dpci_msi_eoi(self, v)
