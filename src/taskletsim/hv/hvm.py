"""The two interrupt paths of the seed (docs/model.md), function by function.

Path B, a passthrough MSI (xen/drivers/passthrough/io.c): ``do_IRQ`` ->
``__do_IRQ_guest`` -> :func:`hvm_do_IRQ_dpci` defers to the design;
:func:`hvm_dirq_assist` later delivers every marked pirq of the domain.

Path A, a vCPU's timer tick: the LAPIC interrupt raises TIMER_SOFTIRQ
(:func:`taskletsim.hv.timers.timer_interrupt`);
:func:`~taskletsim.hv.timers.timer_softirq_action` runs the expired
:func:`vcpu_singleshot_timer_fn` -> :func:`send_guest_vcpu_virq`, which with
``v->virq_lock`` held (IRQs off) reaches :func:`hvm_assert_evtchn_irq`, and
that defers to the vCPU's ``assert_evtchn_irq_tasklet``. The tasklet runs
:func:`hvm_assert_evtchn_irq` again with IRQs on, which kicks the vCPU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .schedule import vcpu_block, vcpu_kick

if TYPE_CHECKING:
    from .cpu import PCpu
    from .guests import Domain, Pirq, VCpu
    from .irq import IrqSource
    from .seam import Proc


def event_check_interrupt(cpu: PCpu, seq: int) -> Proc:
    """``event_check_interrupt``: the IPI only makes the CPU look at its softirqs.

    It also runs calls queued by :meth:`PCpu.call_function` (Xen and Linux
    use a separate call-function vector; one IPI source stands for both).
    """
    while cpu.ipi_calls:
        yield from cpu.ipi_calls.popleft()(cpu)


def vcpu_singleshot_timer_fn(cpu: PCpu, source: IrqSource) -> Proc:
    """``vcpu_singleshot_timer_fn`` -> ``send_timer_event``: VIRQ_TIMER to the vCPU."""
    yield from send_guest_vcpu_virq(cpu, source.owner, source)


def send_guest_vcpu_virq(cpu: PCpu, v: VCpu, source: IrqSource) -> Proc:
    """``send_guest_vcpu_virq``: under ``v->virq_lock`` (irqsave), mark the event pending.

    ``virq_lock`` is per vCPU and only its own timer takes it here, so it is
    modelled as its IRQ-off window, not as a contended lock.
    """
    flags = cpu.local_irq_save()
    yield from cpu.work(cpu.costs.evtchn_ns)
    yield from vcpu_mark_events_pending(cpu, v, source)
    yield from cpu.local_irq_restore(flags)


def vcpu_mark_events_pending(cpu: PCpu, v: VCpu, source: IrqSource) -> Proc:
    """``vcpu_mark_events_pending``: set the upcall pending, then ``hvm_assert_evtchn_irq``."""
    v.pending_virqs[source] = None
    yield from hvm_assert_evtchn_irq(cpu, v, source.id)


def hvm_assert_evtchn_irq(cpu: PCpu, v: VCpu, cause: int = -1) -> Proc:
    """``hvm_assert_evtchn_irq`` (xen/arch/x86/hvm/irq.c): in IRQ context or with IRQs
    off, defer to ``assert_evtchn_irq_tasklet``; else ``vcpu_kick``."""
    if not cpu.irqs_enabled:
        assert v.evtchn_tasklet is not None
        yield from cpu.machine.design.tasklet_schedule(cpu, v.evtchn_tasklet, cause)
        return
    yield from vcpu_kick(cpu, v)


def do_IRQ_guest(cpu: PCpu, pirq: Pirq, seq: int) -> Proc:
    """``__do_IRQ_guest`` -> ``hvm_do_IRQ_dpci``: mark the pirq, defer the delivery."""
    pirq.masked = True
    yield from cpu.machine.design.hvm_do_IRQ_dpci(cpu, pirq)


def hvm_dirq_assist(cpu: PCpu, d: Domain) -> Proc:
    """``hvm_dirq_assist``: under ``d->event_lock``, deliver every marked pirq of the domain."""
    yield from cpu.spin_lock(d.event_lock)
    yield from cpu.work(cpu.costs.hvm_dirq_assist_ns)
    for pirq in d.pirqs:
        if not pirq.masked:
            continue
        pirq.masked = False
        yield from hvm_pci_msi_assert(cpu, pirq)
    cpu.spin_unlock(d.event_lock)


def hvm_dirq_assist_pirq(cpu: PCpu, pirq: Pirq) -> Proc:
    """Xen 4.6 ``hvm_dirq_assist(d, pirq_dpci)``: one pirq, under ``d->event_lock``."""
    d = pirq.domain
    yield from cpu.spin_lock(d.event_lock)
    yield from cpu.work(cpu.costs.hvm_dirq_assist_ns)
    if pirq.masked:
        pirq.masked = False
        yield from hvm_pci_msi_assert(cpu, pirq)
    cpu.spin_unlock(d.event_lock)


def hvm_pci_msi_assert(cpu: PCpu, pirq: Pirq) -> Proc:
    """``hvm_pci_msi_assert`` -> ``vmsi_deliver`` -> ``vlapic_set_irq`` (-> ``vcpu_kick``)."""
    yield from cpu.work(cpu.costs.vmsi_deliver_ns)
    v = pirq.target
    if pirq.source not in v.pending_virqs:
        v.pending_virqs[pirq.source] = None
        yield from vcpu_kick(cpu, v)


def hvm_dpci_msi_eoi(cpu: PCpu, v: VCpu) -> Proc:
    """The guest's EOI of a passthrough MSI without APICv: ``hvm_dpci_msi_eoi``."""
    assert v.domain is not None
    yield from cpu.spin_lock(v.domain.event_lock)
    yield from cpu.work(cpu.costs.eoi_exit_ns)
    cpu.spin_unlock(v.domain.event_lock)
    v.eoi_pending -= 1


def hvm_hlt(cpu: PCpu, v: VCpu) -> Proc:
    """``hvm_hlt``: the guest halted (having armed its timer): ``vcpu_block``."""
    v.halting()
    vcpu_block(cpu, v)
    return
    yield
