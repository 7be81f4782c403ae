"""The two interrupt paths of the seed (docs/model.md), function by function.

Path B, a passthrough MSI (xen/drivers/passthrough/io.c): ``do_IRQ`` ->
``__do_IRQ_guest`` -> :func:`hvm_do_IRQ_dpci` defers to the design;
:func:`hvm_dirq_assist` later delivers every marked pirq of the domain.

Path A, a vCPU's timer tick: the LAPIC interrupt raises TIMER_SOFTIRQ
(:func:`taskletsim.kernel.timers.timer_interrupt`);
:func:`~taskletsim.kernel.timers.timer_softirq_action` runs the expired
:func:`vcpu_singleshot_timer_fn` -> :func:`send_guest_vcpu_virq`, which with
``v->virq_lock`` held (IRQs off) sets the port pending
(:func:`evtchn_set_pending`) and, if the upcall was not pending already,
reaches :func:`hvm_assert_evtchn_irq`, which defers to the vCPU's
``assert_evtchn_irq_tasklet``. The tasklet runs :func:`hvm_assert_evtchn_irq`
again with IRQs on, which kicks the vCPU. The guest handles the tick and
arms the next one (:func:`hvm_do_hypercall`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.events import COALESCE_VIRTUAL
from .schedule import vcpu_block, vcpu_kick

if TYPE_CHECKING:
    from ..kernel.irq import IrqSource
    from .cpu import PCpu
    from .guests import Domain, Pirq, VCpu
    from .seam import Proc


def event_check_interrupt(cpu: PCpu, seq: int) -> Proc:
    """``event_check_interrupt``: the IPI only makes the CPU look at its softirqs.

    It also runs calls queued by :meth:`PCpu.call_function` (Xen and Linux
    use a separate call-function vector; one IPI source stands for both).
    """
    while cpu.ipi_calls:
        yield from cpu.ipi_calls.pop(0)(cpu)


def vcpu_singleshot_timer_fn(cpu: PCpu, source: IrqSource) -> Proc:
    """``vcpu_singleshot_timer_fn`` -> ``send_timer_event``: VIRQ_TIMER to the vCPU."""
    return send_guest_vcpu_virq(cpu, source.owner, source)


def vcpu_periodic_timer_fn(cpu: PCpu, source: IrqSource) -> Proc:
    """``vcpu_periodic_timer_fn`` (common/schedule.c): ``vcpu_periodic_timer_work``."""
    return vcpu_periodic_timer_work(cpu, source.owner)


def vcpu_periodic_timer_work(cpu: PCpu, v: VCpu) -> Proc:
    """``vcpu_periodic_timer_work`` (common/schedule.c): send the tick if it is due, then
    re-arm the periodic timer on this CPU. ``schedule()`` calls it for the vCPU it
    switches to, having stopped the periodic timer of the one it switches from."""
    timer = v.periodic_timer
    if not v.periodic_period or timer is None:
        return
    now = cpu.machine.sim.clock.now
    next_event = v.periodic_last_event + v.periodic_period
    if now >= next_event:
        yield from send_guest_vcpu_virq(cpu, v, timer.source)
        v.periodic_last_event = now
        next_event = now + v.periodic_period
    timer.migrate_timer(cpu.id)
    timer.set_timer(next_event - cpu.machine.sim.clock.now)


def send_guest_vcpu_virq(cpu: PCpu, v: VCpu, source: IrqSource) -> Proc:
    """``send_guest_vcpu_virq``: under ``v->virq_lock`` (irqsave), ``evtchn_set_pending``.

    ``virq_lock`` is per vCPU and only its own timer takes it here, so it is
    modelled as its IRQ-off window, not as a contended lock.
    """
    flags = cpu.local_irq_save()
    yield from cpu.work(cpu.costs.evtchn_ns)
    yield from evtchn_set_pending(cpu, v, source)
    yield from cpu.local_irq_restore(flags)


def evtchn_set_pending(cpu: PCpu, v: VCpu, port: IrqSource) -> Proc:
    """``evtchn_2l_set_pending`` (common/event_2l.c): ``test_and_set_bit`` of the port's
    pending bit; if it was already set the event merges into it (``IRQ_COALESCE``);
    if newly set, ``vcpu_mark_events_pending``. ``port`` is the IRQ source behind it."""
    if port in v.evtchn_pending:
        cpu.trace.irq_coalesce(cpu.id, port.id, COALESCE_VIRTUAL)
        return
    v.evtchn_pending[port] = None
    yield from vcpu_mark_events_pending(cpu, v, port.id)


def vcpu_mark_events_pending(cpu: PCpu, v: VCpu, cause: int = -1) -> Proc:
    """``vcpu_mark_events_pending`` (arch/x86/domain.c): ``test_and_set_bit`` of
    ``evtchn_upcall_pending``; only an upcall that becomes pending now reaches
    ``hvm_assert_evtchn_irq`` (and, from IRQ context, its tasklet)."""
    if v.upcall_pending:
        return
    v.upcall_pending = True
    yield from hvm_assert_evtchn_irq(cpu, v, cause)


def hvm_assert_evtchn_irq(cpu: PCpu, v: VCpu, cause: int = -1) -> Proc:
    """``hvm_assert_evtchn_irq`` (xen/arch/x86/hvm/irq.c): in IRQ context or with IRQs
    off, defer to ``assert_evtchn_irq_tasklet``; else ``vcpu_kick``."""
    if not cpu.irqs_enabled:
        assert v.evtchn_tasklet is not None
        yield from cpu.machine.design.tasklet_schedule(cpu, v.evtchn_tasklet, cause)
        return
    yield from vcpu_kick(cpu, v)


def hvm_do_hypercall(cpu: PCpu, v: VCpu) -> Proc:
    """``hvm_do_hypercall`` -> ``do_vcpu_op(VCPUOP_set_singleshot_timer)`` (common/domain.c):
    ``migrate_timer`` to this CPU, ``set_timer`` at the deadline the guest asked for."""
    yield from cpu.work(cpu.costs.hypercall_ns)
    timer = v.singleshot_timer
    if timer is None or v.tick_deadline_ns < 0:
        return
    timer.migrate_timer(cpu.id)
    jitter = v.tick_jitter() if v.tick_jitter is not None else 0
    timer.set_timer(v.tick_deadline_ns + jitter - cpu.machine.sim.clock.now)
    v.tick_deadline_ns = -1


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
    """``hvm_pci_msi_assert``: for a guest that takes the pirq as an event channel
    (``hvm_domain_use_pirq``), ``send_guest_pirq`` -> ``evtchn_set_pending``; else
    ``vmsi_deliver`` -> ``vlapic_set_irq`` (one request per vector: a vector still
    pending merges, ``IRQ_COALESCE``) -> ``vcpu_kick``."""
    yield from cpu.work(cpu.costs.vmsi_deliver_ns)
    v, source = pirq.target, pirq.source
    if pirq.delivery == "evtchn":
        yield from evtchn_set_pending(cpu, v, source)
        return
    if source in v.vlapic_irr:
        cpu.trace.irq_coalesce(cpu.id, source.id, COALESCE_VIRTUAL)
        return
    v.vlapic_irr[source] = None
    yield from vcpu_kick(cpu, v)


def hvm_dpci_msi_eoi(cpu: PCpu, v: VCpu) -> Proc:
    """The guest's EOI of a passthrough MSI without APICv: ``hvm_dpci_msi_eoi``, under
    ``d->event_lock``, ends the interrupt's service (``desc_guest_eoi``)."""
    assert v.domain is not None
    yield from cpu.spin_lock(v.domain.event_lock)
    yield from cpu.work(cpu.costs.eoi_exit_ns)
    source = v.eoi_queue.pop(0) if v.eoi_queue else None
    if source is not None and source.device is not None:
        source.device.eoi()
    cpu.spin_unlock(v.domain.event_lock)


def hvm_hlt(cpu: PCpu, v: VCpu) -> Proc:
    """``hvm_hlt``: the guest halted (having armed its timer): ``vcpu_block``."""
    v.halting()
    vcpu_block(cpu, v)
    return
    yield
