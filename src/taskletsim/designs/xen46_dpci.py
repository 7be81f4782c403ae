"""``xen-4.6-dpci``: what Xen merged instead, the dpci softirq (passthrough/io.c, 4.6.0).

Passthrough interrupts no longer use tasklets (Xen commit f6dd295381f4, "dpci:
replace tasklet with softirq", and fix a2a935bc5ef6; docs/sources.md):

- ``raise_softirq_for(pirq_dpci)``: ``test_and_set_bit(STATE_SCHED)``; if it was
  already set, return; else (a domain reference,) append to this CPU's
  ``dpci_list`` with IRQs off and raise ``HVM_DPCI_SOFTIRQ``. No global lock.
- ``dpci_softirq``: IRQs off, **splice the whole list**, IRQs on; for each:
  ``test_and_set_bit(STATE_RUN)`` found set (running elsewhere): put it back
  on this CPU's list and re-raise (fix a2a935bc5ef6, which can spin briefly);
  else if ``test_and_clear_bit(STATE_SCHED)``: ``hvm_dirq_assist`` for that one
  pirq; clear RUN.

Each pirq is its own unit of deferred work: it is traced as a tasklet named
``<source>:pirq_dpci``. VIRQ_TIMER still goes through the globally locked
tasklets, exactly as in :mod:`xen44_global` (which this design extends).
Xen 4.6 has ticket spinlocks: that is this design's default lock.

CPU offline: Xen drains a dying CPU's ``dpci_list`` at CPU_DYING (its
softirq still runs) and asserts it empty at CPU_DEAD; the model's CPU stops
at once, so its leftover list is spliced onto the CPU running the notifier.
"""

from __future__ import annotations

from ..hv.seam import Cpu, DomainView, Host, PirqView, TaskletFunc
from .base import (
    STATE_RUN,
    STATE_SCHED,
    Proc,
    SoftirqHandler,
    Tasklet,
    TaskletDesign,
    register_design,
)
from .xen44_global import Xen44Global


@register_design
class Xen46Dpci(Xen44Global):
    """Per-CPU ``dpci_list``, whole list spliced per pass; ticks still on ``tasklet_lock``."""

    name = "xen-4.6-dpci"
    description = "Xen 4.6: passthrough via the per-CPU dpci softirq; ticks still global tasklets"
    softirqs = (("HVM_DPCI_SOFTIRQ", None),)
    default_lock = "ticket"

    def __init__(self, machine: Host) -> None:
        super().__init__(machine)
        self.dpci_list: list[list[Tasklet]] = [[] for _ in range(machine.topology.ncpus)]
        self.HVM_DPCI_SOFTIRQ = machine.softirq_nr["HVM_DPCI_SOFTIRQ"]
        self._pirq_dpci: dict[int, Tasklet] = {}

    def softirq_handlers(self) -> dict[str, SoftirqHandler]:
        return {**super().softirq_handlers(), "HVM_DPCI_SOFTIRQ": self.dpci_softirq}

    def dirq_init(self, domain: DomainView, func: TaskletFunc) -> None:
        """No domain tasklet: each pirq gets its ``hvm_pirq_dpci`` state on first use."""

    def pirq_dpci(self, pirq: PirqView) -> Tasklet:
        """The pirq's ``struct hvm_pirq_dpci`` (its SCHED/RUN bits), traced as a tasklet."""
        key = pirq.source.id
        if key not in self._pirq_dpci:
            assert pirq.dirq_assist is not None
            self._pirq_dpci[key] = TaskletDesign.tasklet_init(  # lockless: no guard
                self, f"{pirq.source.name}:pirq_dpci", pirq.dirq_assist
            )
        return self._pirq_dpci[key]

    def hvm_do_IRQ_dpci(self, cpu: Cpu, pirq: PirqView) -> Proc:
        """``hvm_do_IRQ_dpci``: ``raise_softirq_for(pirq_dpci)``."""
        return self.raise_softirq_for(cpu, self.pirq_dpci(pirq), pirq.source.id)

    def raise_softirq_for(self, cpu: Cpu, t: Tasklet, cause: int) -> Proc:
        """``raise_softirq_for``: SCHED already set? nothing. Else queue here and raise."""
        yield from self.atomic(cpu, t)  # test_and_set_bit(STATE_SCHED)
        was = t.state
        t.state |= STATE_SCHED
        self.traced_schedule(cpu, t, cause)
        if was & STATE_SCHED:
            return
        flags = cpu.local_irq_save()
        yield from cpu.work(self._list_ns)
        self.dpci_list[cpu.id].append(t)
        t.scheduled_on = cpu.id
        yield from cpu.local_irq_restore(flags)
        cpu.raise_softirq(self.HVM_DPCI_SOFTIRQ)

    def dpci_softirq(self, cpu: Cpu) -> Proc:
        """``dpci_softirq``: splice the list; run each, or requeue it if RUN is set."""
        cpu.local_irq_disable()
        yield from cpu.work(self._list_ns)
        ours = self.dpci_list[cpu.id]
        self.dpci_list[cpu.id] = []
        yield from cpu.local_irq_enable()
        while ours:
            t = ours.pop(0)
            yield from self.atomic(cpu, t)  # test_and_set_bit(STATE_RUN)
            if t.state & STATE_RUN:
                flags = cpu.local_irq_save()
                yield from cpu.work(self._list_ns)
                self.dpci_list[cpu.id].append(t)
                yield from cpu.local_irq_restore(flags)
                cpu.raise_softirq(self.HVM_DPCI_SOFTIRQ)
                continue
            t.state |= STATE_RUN
            self.traced_claim(cpu, t)
            if t.state & STATE_SCHED:  # test_and_clear_bit(STATE_SCHED)
                t.state &= ~STATE_SCHED
                yield from self.run_tasklet(cpu, t)
            else:
                self.traced_exit(cpu, t)  # nothing left to do
            t.state &= ~STATE_RUN

    def migrate_tasklets_from_cpu(self, cpu: Cpu, dead: int) -> Proc:
        """The global tasklets as in Xen 4.4; the dead CPU's ``dpci_list`` spliced here."""
        yield from super().migrate_tasklets_from_cpu(cpu, dead)
        if self.dpci_list[dead]:
            self.dpci_list[cpu.id].extend(self.dpci_list[dead])
            self.dpci_list[dead].clear()
            cpu.raise_softirq(self.HVM_DPCI_SOFTIRQ)
