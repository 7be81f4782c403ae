"""Domains and vCPUs: Xen runstates (public/vcpu.h) and what the guest does in guest mode.

Workloads (what the guest does in guest mode):

- ``busy``: always has work (CPU-bound), takes its passthrough interrupts;
- ``idle``: blocked in ``hlt``; each timer tick gives it ``burst_ns`` of
  guest work, after which it halts again;
- ``mixed``: runs for an exponential time (mean ``run_ns``), then arms a
  one-shot timer an exponential time ahead (mean ``block_ns``) and halts.

What a virtual interrupt makes the guest do is queued as :class:`GuestWork`:
a device's ISR (``guest_isr_ns``, ending in an EOI that exits to Xen unless
APICv handles it or the interrupt came as an event channel), the tick
handler (``guest_tick_ns``, ending in the ``VCPUOP_set_singleshot_timer``
hypercall that arms the next tick, when the guest keeps its tick that way,
as a Linux PVHVM guest does), then the workload's own work.

Scheduling state (``pri``, ``credit``, ``affinity``) belongs to
:mod:`taskletsim.sched_credit`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from .vocabulary import (
    EXIT_APIC_WRITE,
    EXIT_EXTERNAL_INTERRUPT,
    EXIT_HLT,
    EXIT_NONE,
    EXIT_VMCALL,
    Runstate,
)

if TYPE_CHECKING:
    from ..kernel.irq import IrqSource
    from ..kernel.timers import Timer
    from ..platform.locks import SpinLock
    from .machine import Machine
    from .seam import Tasklet, TaskletFunc


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

    def __init__(
        self, domain: Domain, source: IrqSource, target: VCpu, delivery: str = "vlapic"
    ) -> None:
        self.domain = domain
        self.source = source
        self.target = target
        self.delivery = delivery
        """How the guest takes it: ``vlapic`` (an MSI through its emulated local APIC, with
        an EOI exit unless APICv) or ``evtchn`` (a PVHVM guest's pirq event channel)."""
        self.masked = False
        self.state = 0  # STATE_SCHED / STATE_RUN bits for per-pirq designs
        self.dirq_assist: TaskletFunc | None = None
        """Xen 4.6's ``hvm_dirq_assist(d, pirq_dpci)`` for this pirq alone."""


class GuestWork:
    """A piece of work the guest does in guest mode, and how it ends.

    ``ISR``: a device's interrupt handler (``source``), ending in its EOI, a VM
    exit (``APIC_WRITE``) unless APICv handles it or the device's interrupt
    came as an event channel. ``TICK``: the guest's tick handler, which ends
    by re-arming its singleshot timer with a hypercall (``VMCALL``) when the
    guest keeps its tick that way. ``BURST``: other guest work.
    """

    ISR: ClassVar[int] = 0
    TICK: ClassVar[int] = 1
    BURST: ClassVar[int] = 2

    __slots__ = ("exit", "kind", "ns", "source")

    def __init__(self, kind: int, ns: int, exit: int, source: IrqSource | None) -> None:
        self.kind = kind
        self.ns = ns
        self.exit = exit
        self.source = source


class VCpu:
    """A vCPU: runstate, scheduling state, pending virtual interrupts and the guest's work."""

    # hundreds per host: slots, not a 1.6 KB dict of 37 attributes each
    __slots__ = (
        "affinity",
        "blocked",
        "burst_ns",
        "credit",
        "domain",
        "draw_block",
        "draw_run",
        "eoi_queue",
        "evtchn_pending",
        "evtchn_tasklet",
        "id",
        "is_idle",
        "machine",
        "name",
        "offline",
        "on_runq",
        "oneshot",
        "periodic_last_event",
        "periodic_period",
        "periodic_timer",
        "pri",
        "processor",
        "run_since",
        "runstate",
        "singleshot_timer",
        "soft_affinity",
        "start_time",
        "tick",
        "tick_deadline_ns",
        "tick_jitter",
        "tick_mode",
        "tick_origin_ns",
        "tick_period_ns",
        "todo",
        "upcall_pending",
        "vlapic_irr",
        "workload",
    )

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
        self.machine = machine
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
        self.vlapic_irr: dict[IrqSource, None] = {}
        """Vectors pending in the vCPU's virtual local APIC (one request per vector)."""
        self.evtchn_pending: dict[IrqSource, None] = {}
        """Event-channel ports pending for this vCPU (``evtchn_pending``), by source."""
        self.upcall_pending = False
        """``vcpu_info->evtchn_upcall_pending``: set by Xen, cleared by the guest's upcall."""
        self.todo: list[GuestWork] = []
        self.eoi_queue: list[IrqSource] = []
        self.evtchn_tasklet: Tasklet | None = None
        self.tick: IrqSource | None = None
        self.tick_mode = "free"
        self.tick_period_ns = 0
        self.tick_origin_ns = 0
        self.tick_jitter: Callable[[], int] | None = None
        self.tick_deadline_ns = -1  # the deadline the guest's tick handler is about to arm
        self.singleshot_timer: Timer | None = None
        self.periodic_timer: Timer | None = None
        self.periodic_period = 0
        self.periodic_last_event = 0
        self.oneshot: Timer | None = None
        self.draw_run: Callable[[], int] | None = None
        self.draw_block: Callable[[], int] | None = None

    def is_runnable(self) -> bool:
        """``vcpu_runnable``: neither blocked nor down."""
        return not self.blocked and not self.offline

    def events_need_delivery(self) -> bool:
        """``local_events_need_delivery``: an upcall or a vLAPIC vector is pending."""
        return self.upcall_pending or bool(self.vlapic_irr)

    # -- the guest's side of a virtual interrupt -----------------------------

    def virq_injected(self, source: IrqSource, machine: Machine) -> None:
        """The guest takes a virtual interrupt: queue its handler's work."""
        costs = machine.costs
        if source.kind == "device":
            device = source.device
            ns = device.isr_ns(costs.guest_isr_ns) if device is not None else costs.guest_isr_ns
            eoi_exit = source.owner.delivery == "vlapic" and not machine.apicv
            exit = EXIT_APIC_WRITE if eoi_exit else EXIT_NONE
            self.todo.append(GuestWork(GuestWork.ISR, ns, exit, source))
            return
        if source.kind != "timer":
            return
        rearm = self.tick_mode == "singleshot" and source is self.tick
        exit = EXIT_VMCALL if rearm else EXIT_NONE
        self.todo.append(GuestWork(GuestWork.TICK, costs.guest_tick_ns, exit, source))
        if self.workload == "idle" and self.burst_ns:
            self.todo.append(GuestWork(GuestWork.BURST, self.burst_ns, EXIT_NONE, None))
        elif self.workload == "mixed" and self.draw_run is not None:
            self.todo.append(GuestWork(GuestWork.BURST, self.draw_run(), EXIT_NONE, None))

    def extend_isr(self, source: IrqSource, ns: int) -> bool:
        """A NAPI poll takes one more arrival of ``source``: its running or queued ISR
        grows by ``ns``. False if no ISR of ``source`` is queued yet."""
        for work in self.todo:
            if work.kind == GuestWork.ISR and work.source is source:
                work.ns += ns
                return True
        return False

    def halting(self) -> None:
        """The guest is about to ``hlt``: a ``mixed`` one arms its one-shot timer first."""
        if self.workload == "mixed" and self.oneshot is not None and self.draw_block is not None:
            self.oneshot.set_timer(self.draw_block())

    def guest_work(self) -> tuple[int | None, int]:
        """How long the guest runs before its current piece of work ends, and how it ends
        (``None``: a busy guest with nothing queued runs until an interrupt)."""
        if self.todo:
            work = self.todo[0]
            ns = work.ns
            return (ns if ns > 0 else 0), work.exit
        if self.workload == "busy":
            return None, EXIT_EXTERNAL_INTERRUPT
        return 0, EXIT_HLT

    def guest_ran(self, ns: int) -> None:
        """``ns`` of guest mode went to the current piece of work; finish it if done."""
        if not self.todo:
            return
        work = self.todo[0]
        work.ns -= ns
        if work.ns > 0:
            return
        self.todo.pop(0)
        if work.kind == GuestWork.TICK and work.exit == EXIT_VMCALL:
            self.tick_deadline_ns = self.next_tick_ns(self.machine.sim.clock.now)
        elif work.kind == GuestWork.ISR and work.source is not None:
            device = work.source.device
            if device is not None:
                device.end_of_isr()
                if work.exit == EXIT_NONE:
                    device.eoi()
                else:
                    self.eoi_queue.append(work.source)

    def next_tick_ns(self, now: int) -> int:
        """The guest's next tick deadline after ``now`` (Linux ``hrtimer_forward`` on the
        tick grid: ``tick_origin_ns + k * tick_period_ns``)."""
        period, origin = self.tick_period_ns, self.tick_origin_ns
        if now < origin:
            return origin
        return origin + ((now - origin) // period + 1) * period
