"""Costs of a Linux host's steps, in ns, and the scheduler's settings.

As for the Xen host (:mod:`taskletsim.hv.costs`), no published figure was found
for a step's cost: every ``*_ns`` default is an **assumption** of the order the
literature gives for a 2010s x86 server, and each is a parameter
(``--set context_switch_ns=...``). The scheduler's settings are Linux's own
defaults, with the file they come from.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ..core.config import Param


@dataclass(frozen=True)
class LinuxCosts:
    """Per-step costs (ns; assumptions) and scheduler settings (Linux's defaults)."""

    irq_entry_ns: int = 300
    """``common_interrupt`` -> ``irq_enter_rcu`` -> ``handle_irq_event``: entry, ack."""
    irq_exit_ns: int = 150
    """``irq_exit_rcu`` without softirqs, the APIC EOI and the return from the interrupt."""
    softirq_dispatch_ns: int = 40
    """One softirq in ``handle_softirqs``: find the bit, call its action."""
    irq_save_restore_ns: int = 10
    """``local_irq_save``/``local_irq_restore`` pair (pushf/cli/popf)."""
    ipi_send_ns: int = 200
    """Sending an IPI: the sender's APIC ICR write (x2APIC)."""
    ipi_latency_ns: int = 1000
    """From the ICR write to the interrupt arriving at the target CPU."""
    timer_fn_ns: int = 200
    """An expired hrtimer's function in ``__hrtimer_run_queues`` (a wake-up, the tick)."""
    tasklet_list_ns: int = 60
    """List work inside a tasklet or work-item critical section (link, unlink, flags)."""
    tick_ns: int = 500
    """``tick_sched_timer`` -> ``update_process_times``: jiffies, ``scheduler_tick``."""
    wakeup_ns: int = 600
    """``try_to_wake_up``: ``select_task_rq``, ``ttwu_queue``, ``check_preempt_curr``."""
    schedule_ns: int = 500
    """``__schedule``: ``pick_next_task`` (the fair class's EEVDF pick)."""
    context_switch_ns: int = 1500
    """``context_switch``: ``switch_mm``, ``switch_to``, and the caches it costs."""
    irq_thread_ns: int = 300
    """``irq_thread`` around the threaded handler (``irq_wait_for_interrupt``,
    ``irq_finalize_oneshot``)."""
    hz: int = 1000
    """``CONFIG_HZ``: the tick rate and a jiffy's length (1000 in most distribution
    kernels' x86 configs, 250 in some)."""
    base_slice_ns: int | None = None
    """``sysctl_sched_base_slice``; ``None``: Linux's own for the host's CPUs
    (:meth:`base_slice_for`)."""

    @property
    def jiffy_ns(self) -> int:
        """The length of a jiffy: ``1e9 / HZ``."""
        return 1_000_000_000 // self.hz

    def base_slice_for(self, ncpus: int) -> int:
        """The slice a fair task keeps the CPU for: ``base_slice_ns`` if set, else
        ``sysctl_sched_base_slice`` as kernel/sched/fair.c scales it
        (``SCHED_TUNABLESCALING_LOG``): 0.75 ms x (1 + ilog2(min(CPUs, 8))), so 0.75 ms
        on 1 CPU, 2.25 ms on 4, 3 ms from 8."""
        if self.base_slice_ns is not None:
            return self.base_slice_ns
        return 750_000 * (1 + (min(ncpus, 8).bit_length() - 1))

    @classmethod
    def params(cls) -> tuple[Param, ...]:
        """One scenario parameter per cost and setting."""
        out = []
        for f in fields(cls):
            doc = _DOCS[f.name]
            minimum = 1 if f.name in ("hz", "base_slice_ns") else 0
            optional = f.name == "base_slice_ns"
            out.append(Param(f.name, "int", f.default, doc, minimum=minimum, optional=optional))
        return tuple(out)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> LinuxCosts:
        """The costs set in a scenario's resolved parameters."""
        return cls(**{f.name: params[f.name] for f in fields(cls) if f.name in params})


_DOCS = {
    "irq_entry_ns": "assumption: hard IRQ entry up to the handler, ns",
    "irq_exit_ns": "assumption: hard IRQ exit without softirqs, ns",
    "softirq_dispatch_ns": "assumption: one softirq's dispatch in __do_softirq, ns",
    "irq_save_restore_ns": "assumption: local_irq_save/restore pair, ns",
    "ipi_send_ns": "assumption: sending an IPI, ns",
    "ipi_latency_ns": "assumption: IPI flight time, ns",
    "timer_fn_ns": "assumption: one expired hrtimer's function, ns",
    "tasklet_list_ns": "assumption: list work inside a tasklet or work critical section, ns",
    "tick_ns": "assumption: the scheduler tick's work, ns",
    "wakeup_ns": "assumption: try_to_wake_up, ns",
    "schedule_ns": "assumption: __schedule's pick, ns",
    "context_switch_ns": "assumption: context_switch, ns",
    "irq_thread_ns": "assumption: irq_thread's own work around the threaded handler, ns",
    "hz": "CONFIG_HZ: scheduler ticks per second (jiffies)",
    "base_slice_ns": "sysctl_sched_base_slice, ns; none = Linux's scaling for the host's "
    "CPUs: 0.75 ms x (1 + ilog2(min(CPUs, 8))) (kernel/sched/fair.c)",
}
