"""A physical CPU of a Xen 4.4 host (x86, VMX): the idle loop, the VM-entry path, guest mode.

One SimPy process per CPU runs what Xen runs on it, function by function:
the idle loop (``xen/arch/x86/domain.c:idle_loop``) when the idle vCPU is
current, the VM-entry path (``xen/arch/x86/hvm/vmx/entry.S``) and guest
execution when a guest vCPU is. Interrupts, IRQ-off windows, spinlocks and
raising softirqs are every kernel's (:class:`taskletsim.kernel.cpu.PhysCpu`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from simpy.events import Event

from ..kernel.cpu import _IRQ, PhysCpu
from .costs import HvCosts
from .seam import Proc
from .vocabulary import EXIT_EXTERNAL_INTERRUPT, EXIT_HLT, EXIT_NONE, EXIT_VMCALL

if TYPE_CHECKING:
    from .guests import VCpu
    from .machine import Machine


class PCpu(PhysCpu["Machine", HvCosts]):
    """A Xen pCPU: what every kernel's CPU has, the current vCPU, and the idle loop's work."""

    __slots__ = ("cross_calls", "current", "deferred", "idle_vcpu", "in_guest")

    def __init__(self, machine: Machine, cpu_id: int, idle_vcpu: VCpu) -> None:
        super().__init__(machine, cpu_id)
        self.idle_vcpu = idle_vcpu
        self.current: VCpu = idle_vcpu
        self.in_guest = False
        self.deferred: list[Callable[[PCpu], Proc]] = []
        self.cross_calls = 0  # on_selected_cpus calls to this CPU still awaited by a caller

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

    # -- softirqs (xen/common/softirq.c) --------------------------------------

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
        self.trace.vm_entry(self.id, v.id)
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
                self.trace.virq_inject(self.id, source.id, v.id)
                yield from self.work(self.costs.inject_ns)
                v.virq_injected(source, self.machine)
        if v.upcall_pending:
            ports = v.evtchn_pending
            v.evtchn_pending = {}
            v.upcall_pending = False
            for source in ports:
                self.trace.virq_inject(self.id, source.id, v.id)
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
            start = self._clock.now
            self.irqs_enabled = True
            self._interruptible = True
            value = yield (Event(self.env) if need is None else need)
            self._interruptible = False
            self.irqs_enabled = False
            v.guest_ran(self._clock.now - start)
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
        self.trace.vm_exit(self.id, v.id, reason)
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
