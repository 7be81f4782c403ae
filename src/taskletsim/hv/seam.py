"""The seam between the Xen host and the tasklet designs: the interfaces both type against.

A design sees the host only through what is defined here:

- :class:`Cpu`: the operations of a physical CPU a design may call (time
  passing, the interrupt flag, spinlocks, softirqs, IPIs);
- :class:`Host`: what a design reads of the machine (the simulation, the
  topology, step costs, the CPUs, softirq numbers, its own options) and
  :meth:`Host.make_lock`;
- the small views of a vCPU, a domain and a passthrough pirq that the
  passthrough path hands to a design;
- :class:`DesignHooks`: what the host calls on a design, with the contract
  of each hook (context, interrupt state, locks held, trace events owed);
- what every host shares with its designs, from :mod:`taskletsim.kernel.seam`:
  :class:`Tasklet` with its SCHED/RUN bits, :data:`Proc`, :class:`IrqLine`,
  and :data:`DESIGNS`, the registry of designs.

Only :mod:`taskletsim.hv.machine` puts concrete classes behind these
interfaces; designs import nothing else from ``hv/``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar, Protocol

from ..core.sim import Simulation
from ..kernel.seam import (
    DESIGNS,
    STATE_RUN,
    STATE_SCHED,
    CpuOps,
    Design,
    IrqLine,
    Proc,
    Tasklet,
)
from ..platform.locks import SpinLock
from ..platform.topology import Topology
from .costs import HvCosts

__all__ = [
    "DESIGNS",
    "STATE_RUN",
    "STATE_SCHED",
    "Cpu",
    "DesignHooks",
    "DomainView",
    "Host",
    "HvCosts",
    "IrqLine",
    "PirqView",
    "Proc",
    "SoftirqHandler",
    "Tasklet",
    "TaskletFunc",
    "VcpuView",
]

TaskletFunc = Callable[["Cpu"], Proc]
"""A tasklet's function, ``t->func(t->data)``: run on the CPU that claimed it."""

SoftirqHandler = Callable[["Cpu"], Proc]
"""A softirq action, run by ``do_softirq`` with interrupts enabled."""


class VcpuView(Protocol):
    """A vCPU as a design sees it (the idle vCPU of a pCPU has ``is_idle``)."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def is_idle(self) -> bool: ...


class DomainView(Protocol):
    """A guest domain as the passthrough path hands it to a design."""

    @property
    def name(self) -> str: ...

    dirq_tasklet: Tasklet | None


class PirqView(Protocol):
    """A passthrough MSI bound to a domain (``struct hvm_pirq_dpci``)."""

    @property
    def domain(self) -> DomainView: ...
    @property
    def source(self) -> IrqLine: ...
    @property
    def dirq_assist(self) -> TaskletFunc | None:
        """``hvm_dirq_assist`` for this pirq alone (Xen 4.6's per-pirq form)."""


class Cpu(CpuOps, Protocol):
    """The operations of a physical CPU a design may call (``taskletsim.hv.cpu.PCpu``):
    every kernel's (:class:`~taskletsim.kernel.seam.CpuOps`: time passing, the interrupt
    flag, spinlocks, raising softirqs) and Xen's own below."""

    @property
    def switched(self) -> bool:
        """True once ``schedule()`` switched context in this pass: stop running softirqs."""

    @property
    def current(self) -> VcpuView: ...
    @property
    def costs(self) -> HvCosts: ...
    @property
    def ipi(self) -> IrqLine | None:
        """The CPU's event-check IPI source."""

    def cpu_raise_softirq(self, target: int, nr: int) -> Proc: ...
    def xen_do_softirq(self) -> Proc: ...
    def run_softirq(self, nr: int) -> Proc: ...
    def call_function(self, func: Callable[[Cpu], Proc]) -> None: ...
    def on_selected_cpus(self, target: int, func: Callable[[Cpu], Proc], wait: bool) -> Proc:
        """Run ``func`` on CPU ``target`` from a call-function IPI, under Xen's global
        ``call_lock``; spin until it has (``wait``) or has been taken."""

    def call_on_cpu(self, work: Callable[[Cpu], Proc]) -> None: ...


class Host(Protocol):
    """What a design sees of the machine (``taskletsim.hv.machine.Machine``)."""

    @property
    def sim(self) -> Simulation: ...
    @property
    def topology(self) -> Topology: ...
    @property
    def costs(self) -> HvCosts: ...
    @property
    def cpus(self) -> Sequence[Cpu]: ...
    @property
    def softirq_nr(self) -> Mapping[str, int]:
        """Softirq numbers by name, the design's own included."""

    @property
    def design_options(self) -> Mapping[str, object]:
        """The options given for the design (checked against its ``options``)."""

    def make_lock(self, name: str) -> SpinLock:
        """A spinlock of the machine's lock kind, traced under ``name``."""


class DesignHooks(Design, Protocol):
    """What the host calls on a tasklet design: the design contract (and what every design
    says of itself, :class:`~taskletsim.kernel.seam.Design`; ``host`` is ``xen`` here).

    Every hook is hypervisor code run by the CPU ``cpu`` passed to it, as a
    generator (``yield from``). "IRQs off" means the CPU's interrupt flag is
    clear. The trace events a design owes, and where:

    - ``TASKLET_SCHEDULE`` (``traced_schedule``) each time a tasklet is
      scheduled, with the causing IRQ source;
    - ``TASKLET_ENTRY`` (``traced_claim``) where the tasklet is claimed to run
      (``is_running = 1`` / RUN bit set): a schedule after that makes it run
      again;
    - ``TASKLET_EXIT`` (``traced_exit``, done by ``run_tasklet``) when its
      function returned.

    The interrupt-latency metrics chain an interrupt to its deferred work
    through these three events; a design that omits one reports no
    ``tasklet`` and ``virq`` latency. ``taskletsim.testing.check_design``
    checks the contract on any registered design.
    """

    own_softirq_engine: ClassVar[bool]
    """True if :meth:`do_softirq` is the design's own; else CPUs run Xen's ``__do_softirq``."""

    def __init__(self, machine: Host) -> None: ...

    def softirq_handlers(self) -> dict[str, SoftirqHandler]:
        """The design's softirq actions by softirq name, called once when the host is built.

        Each action runs from ``do_softirq`` (idle loop or VM-entry path) in
        softirq context: IRQs on at entry and on return; no lock held at
        entry or on return.
        """
        ...

    def do_softirq(self, cpu: Cpu) -> Proc:
        """The softirq engine (``do_softirq``): Xen's ``__do_softirq`` unless overridden.

        Called from the idle loop and the VM-entry path with IRQs on and no
        lock held; returns with IRQs on. Must stop when ``cpu.switched``.
        """
        ...

    def softirqs_deferred(self, cpu: Cpu) -> bool:
        """Whether ``cpu``'s pending softirqs must wait (e.g. for ksoftirqd); no time passes."""
        ...

    def tasklet_init(self, name: str, func: TaskletFunc, is_softirq: bool = True) -> Tasklet:
        """``softirq_tasklet_init``: a new tasklet traced as ``name``; at build time."""
        ...

    def tasklet_schedule(self, cpu: Cpu, t: Tasklet, cause: int = -1) -> Proc:
        """``tasklet_schedule``: ``tasklet_schedule_on_cpu(t, cpu)``.

        Called in IRQ context (a hard IRQ handler) or with IRQs off (under
        ``v->virq_lock``), possibly with other IRQ-off locks held; returns
        with the interrupt flag as it found it. Emits ``TASKLET_SCHEDULE``
        unless the tasklet is dead.
        """
        ...

    def tasklet_schedule_on_cpu(self, cpu: Cpu, t: Tasklet, target: int, cause: int = -1) -> Proc:
        """Queue ``t`` to run on CPU ``target``; ``cause`` is the IRQ source behind it or -1.

        Any context (IRQ, softirq, idle loop); returns with the interrupt
        flag as it found it and no lock of its own held. Emits
        ``TASKLET_SCHEDULE`` (unless ``t`` is dead); ``t`` must then run on
        ``target`` (or where the design moves it) with ``TASKLET_ENTRY``,
        ``TASKLET_EXIT``, once more if scheduled again after its claim.
        """
        ...

    def dirq_init(self, domain: DomainView, func: TaskletFunc) -> None:
        """``pt_irq_create_bind``: set up ``domain``'s deferred passthrough work; at build time."""
        ...

    def hvm_do_IRQ_dpci(self, cpu: Cpu, pirq: PirqView) -> Proc:
        """Defer a passthrough interrupt's delivery (``hvm_do_IRQ_dpci``).

        Hard IRQ context: IRQs off on entry and on return (``desc->lock``
        held in Xen). Emits ``TASKLET_SCHEDULE`` with ``pirq.source.id`` as
        the cause; the deferred work must run ``hvm_dirq_assist``.
        """
        ...

    def tasklet_kill(self, cpu: Cpu, t: Tasklet) -> Proc:
        """``tasklet_kill``: unqueue ``t``, mark it dead, wait until it is not running.

        Process context (idle loop), IRQs on at entry and return; may spin.
        A schedule after it returns is ignored.
        """
        ...

    def migrate_tasklets_from_cpu(self, cpu: Cpu, dead: int) -> Proc:
        """CPU_DEAD: move what is queued on offline CPU ``dead`` to ``cpu`` (idle loop,
        IRQs on at entry and return); nothing queued may be lost."""
        ...
