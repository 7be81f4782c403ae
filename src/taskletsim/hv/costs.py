"""Costs of the hypervisor's steps, in ns.

No published figure was found for any of these (docs/sources.md): every default
below is an **assumption**, chosen to be of the order the literature
describes ("hundreds to thousands of cycles" for a VM exit/entry round trip
on 2014 x86), and each is a parameter a user can set (``--set vmexit_ns=...``).
Lock handoff costs are not here: they come from the topology (perfbook).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ..core.config import Param


@dataclass(frozen=True)
class HvCosts:
    """Per-step costs (ns). All defaults are assumptions (see the module doc)."""

    vmexit_ns: int = 500
    """VM exit: hardware exit plus the register save of ``vmx_asm_vmexit_handler``."""
    vmentry_ns: int = 400
    """VM entry: ``VMRESUME`` with the register restore."""
    irq_entry_ns: int = 150
    """``common_interrupt`` up to ``do_IRQ``'s handler: ack, ``desc->lock``, dispatch."""
    irq_exit_ns: int = 100
    """Return from ``do_IRQ``: unlock, EOI, ``ret_from_intr``."""
    softirq_dispatch_ns: int = 40
    """One pass of ``__do_softirq``: read the mask, clear the bit, call the handler."""
    irq_save_restore_ns: int = 10
    """``local_irq_save``/``local_irq_restore`` pair (pushf/cli/popf)."""
    ipi_send_ns: int = 200
    """``smp_send_event_check_cpu``: the sender's APIC ICR write."""
    ipi_latency_ns: int = 1000
    """From the ICR write to the interrupt arriving at the target CPU."""
    tasklet_list_ns: int = 60
    """List manipulation inside a tasklet critical section (unlink, link, flags)."""
    hvm_dirq_assist_ns: int = 400
    """``hvm_dirq_assist``: fixed part (``d->event_lock``, walking the domain's pirqs)."""
    vmsi_deliver_ns: int = 300
    """Per delivered pirq: ``vmsi_deliver`` -> ``vlapic_set_irq``."""
    timer_fn_ns: int = 300
    """``execute_timer`` + ``vcpu_singleshot_timer_fn`` -> ``send_guest_vcpu_virq``."""
    evtchn_ns: int = 200
    """``evtchn_set_pending`` -> ``vcpu_mark_events_pending`` under ``v->virq_lock``."""
    vcpu_wake_ns: int = 300
    """``vcpu_wake``: runstate change and the scheduler's wake hook (credit1 tickle)."""
    schedule_ns: int = 800
    """``schedule()``: pick the next vCPU (credit1 ``csched_schedule``)."""
    context_switch_ns: int = 1500
    """``context_switch``: VMCS switch, state save/restore."""
    intr_assist_ns: int = 100
    """``vmx_intr_assist`` with nothing to inject."""
    inject_ns: int = 150
    """``vmx_intr_assist`` injecting one vector (``__vmwrite`` of the event)."""
    eoi_exit_ns: int = 600
    """Guest EOI of a passthrough MSI without APICv: ``hvm_dpci_msi_eoi`` handling."""
    guest_isr_ns: int = 2000
    """Guest time from taking a passthrough interrupt to writing its EOI."""
    guest_tick_ns: int = 2000
    """Guest time in its tick handler, up to re-arming its singleshot timer."""
    hypercall_ns: int = 500
    """``VCPUOP_set_singleshot_timer``: ``hvm_do_hypercall``, ``migrate_timer``, ``set_timer``."""
    napi_poll_ns: int = 500
    """Guest time a NAPI poll spends on one arrival taken while the interrupt is masked."""

    @classmethod
    def params(cls) -> tuple[Param, ...]:
        """One scenario parameter per cost."""
        return tuple(
            Param(f.name, "int", f.default, f"assumption: {_doc(f.name)}", minimum=0)
            for f in fields(cls)
        )

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> HvCosts:
        """The costs set in a scenario's resolved parameters."""
        return cls(**{f.name: params[f.name] for f in fields(cls) if f.name in params})


def _doc(name: str) -> str:
    docs = {
        "vmexit_ns": "VM exit",
        "vmentry_ns": "VM entry",
        "irq_entry_ns": "hard IRQ entry up to the handler",
        "irq_exit_ns": "hard IRQ exit",
        "softirq_dispatch_ns": "one __do_softirq pass",
        "irq_save_restore_ns": "local_irq_save/restore pair",
        "ipi_send_ns": "sending an IPI",
        "ipi_latency_ns": "IPI flight time",
        "tasklet_list_ns": "list work inside a tasklet critical section",
        "hvm_dirq_assist_ns": "hvm_dirq_assist fixed part",
        "vmsi_deliver_ns": "vmsi_deliver per pirq",
        "timer_fn_ns": "vcpu_singleshot_timer_fn",
        "evtchn_ns": "evtchn_set_pending under virq_lock",
        "vcpu_wake_ns": "vcpu_wake",
        "schedule_ns": "schedule()",
        "context_switch_ns": "context_switch",
        "intr_assist_ns": "vmx_intr_assist",
        "inject_ns": "injecting one vector",
        "eoi_exit_ns": "EOI VM exit handling (no APICv)",
        "guest_isr_ns": "guest ISR up to its EOI",
        "guest_tick_ns": "guest tick handler up to its re-arm hypercall",
        "hypercall_ns": "VCPUOP_set_singleshot_timer handling",
        "napi_poll_ns": "guest NAPI poll work per arrival taken while masked",
    }
    return docs[name] + ", ns"
