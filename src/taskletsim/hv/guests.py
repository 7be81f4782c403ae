"""Domains and vCPUs: Xen runstates (public/vcpu.h) and what the guest does in guest mode.

Workloads (what the guest does in guest mode):

- ``busy``: always has work (CPU-bound), takes its passthrough interrupts;
- ``idle``: blocked in ``hlt``; each timer tick gives it ``burst_ns`` of
  guest work, after which it halts again;
- ``mixed``: runs for an exponential time (mean ``run_ns``), then arms a
  one-shot timer an exponential time ahead (mean ``block_ns``) and halts.

Scheduling state (``pri``, ``credit``, ``affinity``) belongs to
:mod:`taskletsim.sched_credit`.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import TYPE_CHECKING

from .cpu import ExitReason

if TYPE_CHECKING:
    from ..platform.locks import SpinLock
    from .irq import IrqSource
    from .machine import Machine
    from .seam import Tasklet, TaskletFunc
    from .timers import Timer

WORKLOADS = ("busy", "idle", "mixed")


class Runstate(IntEnum):
    """``RUNSTATE_*`` of xen/include/public/vcpu.h."""

    RUNNING = 0
    RUNNABLE = 1
    BLOCKED = 2
    OFFLINE = 3


class Domain:
    """A guest: its vCPUs, its passthrough pirqs, ``d->event_lock`` and the dirq tasklet."""

    def __init__(self, machine: Machine, domid: int, name: str) -> None:
        self.id = domid
        self.name = name
        self.vcpus: list[VCpu] = []
        self.pirqs: list[Pirq] = []
        self.event_lock: SpinLock = machine.make_lock(f"{name}:event_lock")
        self.dirq_tasklet: Tasklet | None = None


class Pirq:
    """A passthrough MSI bound to a domain (``struct hvm_pirq_dpci``)."""

    def __init__(self, domain: Domain, source: IrqSource, target: VCpu) -> None:
        self.domain = domain
        self.source = source
        self.target = target
        self.masked = False
        self.state = 0  # STATE_SCHED / STATE_RUN bits for per-pirq designs
        self.dirq_assist: TaskletFunc | None = None
        """Xen 4.6's ``hvm_dirq_assist(d, pirq_dpci)`` for this pirq alone."""


class VCpu:
    """A vCPU: runstate, scheduling state, pending virtual interrupts and the guest's work."""

    def __init__(
        self,
        machine: Machine,
        domain: Domain | None,
        name: str,
        processor: int,
        workload: str,
        burst_ns: int = 0,
        affinity: tuple[int, ...] | None = None,
        soft_affinity: tuple[int, ...] | None = None,
    ) -> None:
        self.id = machine.sim.trace.names.add("vcpu", name)
        self.name = name
        self.domain = domain
        self.processor = processor
        self.affinity = affinity or (processor,)
        self.soft_affinity = tuple(
            c for c in (soft_affinity or self.affinity) if c in self.affinity
        )
        self.workload = workload
        self.burst_ns = burst_ns
        self.is_idle = domain is None
        self.runstate = Runstate.BLOCKED if workload == "idle" else Runstate.RUNNABLE
        self.blocked = workload == "idle"  # _VPF_blocked
        self.offline = False  # _VPF_down
        self.pri = -64 if self.is_idle else -1  # PRI_IDLE, PRI_UNDER
        self.credit = 0
        self.start_time = 0  # last credit accounting while running
        self.run_since = 0  # when it was last dispatched (rate limit)
        self.on_runq = -1
        self.pending_virqs: dict[IrqSource, None] = {}
        self.eoi_pending = 0
        self.isr_left = 0
        self.burst_left = 0
        self.evtchn_tasklet: Tasklet | None = None
        self.tick: IrqSource | None = None
        self.oneshot: Timer | None = None
        self.draw_run: Callable[[], int] | None = None
        self.draw_block: Callable[[], int] | None = None
        self._bucket = ""

    def is_runnable(self) -> bool:
        """``vcpu_runnable``: neither blocked nor down."""
        return not self.blocked and not self.offline

    def virq_injected(self, source: IrqSource, machine: Machine) -> None:
        """The guest takes a virtual interrupt: its ISR, then maybe an EOI write to trap."""
        if source.needs_eoi_exit and not machine.apicv:
            self.eoi_pending += 1
        if source.kind == "timer":
            if self.workload == "idle":
                self.burst_left += self.burst_ns
            elif self.workload == "mixed" and self.draw_run is not None:
                self.burst_left += self.draw_run()

    def halting(self) -> None:
        """The guest is about to ``hlt``: a ``mixed`` one arms its one-shot timer first."""
        if self.workload == "mixed" and self.oneshot is not None and self.draw_block is not None:
            self.oneshot.set_timer(self.draw_block())

    def guest_work(self, machine: Machine) -> tuple[int | None, ExitReason]:
        """How long the guest runs before its next voluntary exit (``None``: never)."""
        if self.eoi_pending:
            if self.isr_left <= 0:
                self.isr_left = machine.costs.guest_isr_ns
            self._bucket = "isr"
            return self.isr_left, ExitReason.APIC_WRITE
        if self.workload != "busy":
            self._bucket = "burst"
            return max(self.burst_left, 0), ExitReason.HLT
        self._bucket = ""
        return None, ExitReason.EXTERNAL_INTERRUPT

    def guest_ran(self, ns: int) -> None:
        """``ns`` of guest mode went to the work :meth:`guest_work` chose."""
        if self._bucket == "isr":
            self.isr_left -= ns
        elif self._bucket == "burst":
            self.burst_left -= ns
