"""The seam between the Linux host and the tasklet designs that run on it.

A design sees the host only through what is defined here:

- :class:`Cpu`: the operations of a CPU a design may call (time passing, the
  interrupt flag, spinlocks, softirqs, BH-disabled sections, waking tasks,
  IPIs), of :class:`taskletsim.linux.cpu.LinuxCpu`;
- :class:`Host`: what a design reads of the machine, :meth:`Host.make_lock`
  and :meth:`Host.create_kthread` for the threads a design needs;
- :class:`LinuxDesignHooks`: what the host calls on a design, with each
  hook's context.

The trace duties are those of the Xen host's contract
(:class:`taskletsim.hv.seam.DesignHooks`): ``TASKLET_SCHEDULE`` where the
deferred work is scheduled (with the IRQ source behind it),
``TASKLET_ENTRY`` where it is claimed to run, ``TASKLET_EXIT`` when its
function returned: the latency metrics chain an interrupt through them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from ..core.sim import Simulation
from ..kernel.seam import DESIGNS, STATE_RUN, STATE_SCHED, CpuOps, Design, IrqLine, Proc, Tasklet
from ..platform.locks import SpinLock
from ..platform.topology import Topology
from .costs import LinuxCosts
from .sched import BLOCKED_OUT, PREEMPTED, Task, TaskBody

__all__ = [
    "BLOCKED_OUT",
    "DESIGNS",
    "PREEMPTED",
    "STATE_RUN",
    "STATE_SCHED",
    "Cpu",
    "Host",
    "IrqLine",
    "LinuxCosts",
    "LinuxDesignHooks",
    "Proc",
    "Task",
    "TaskBody",
    "Tasklet",
]


class Cpu(CpuOps, Protocol):
    """What a design may call on a Linux CPU (:class:`taskletsim.linux.cpu.LinuxCpu`):
    every kernel's operations (:class:`~taskletsim.kernel.seam.CpuOps`) and Linux's own
    below (BH-disabled sections, interrupt context, waking tasks)."""

    @property
    def costs(self) -> LinuxCosts: ...
    @property
    def need_resched(self) -> bool: ...

    def in_interrupt(self) -> bool: ...
    def local_bh_disable(self) -> None: ...
    def local_bh_enable(self) -> Proc: ...
    def call_function(self, func: Callable[[Any], Proc]) -> None: ...
    def wake_up_process(self, task: Task) -> Proc: ...
    def try_to_wake_up(self, task: Task) -> None: ...


class Host(Protocol):
    """What a design sees of the Linux machine (:class:`taskletsim.linux.machine.LinuxHost`)."""

    @property
    def sim(self) -> Simulation: ...
    @property
    def topology(self) -> Topology: ...
    @property
    def costs(self) -> LinuxCosts: ...
    @property
    def cpus(self) -> Sequence[Cpu]: ...
    @property
    def softirq_nr(self) -> Mapping[str, int]: ...
    @property
    def design_options(self) -> Mapping[str, object]: ...

    def make_lock(self, name: str) -> SpinLock: ...
    def create_kthread(
        self, name: str, kind: str, cpus: tuple[int, ...], body: TaskBody, rt: bool
    ) -> Task:
        """A kernel thread, asleep until woken; ``rt``: ``SCHED_FIFO`` priority 50."""
        ...


class LinuxDesignHooks(Design, Protocol):
    """What the Linux host calls on a design (``host`` includes ``linux``).

    Softirqs run from ``irq_exit``, ``local_bh_enable`` or ``ksoftirqd``: the
    host's ``__do_softirq``, never the design's.
    """

    def __init__(self, machine: Any) -> None: ...

    def softirq_handlers(self) -> dict[str, Callable[[Any], Proc]]:
        """The design's softirq actions by name (IRQs on at entry and return, no lock held)."""
        ...

    def tasklet_init(
        self, name: str, func: Callable[[Any], Proc], is_softirq: bool = True
    ) -> Tasklet:
        """The deferred work of one driver instance (a tasklet, a work item, an IRQ
        thread's handler), traced as ``name``; at build time."""
        ...

    def tasklet_schedule(self, cpu: Any, t: Tasklet, cause: int = -1) -> Proc:
        """Defer ``t`` from a hard IRQ handler (IRQs off, maybe a driver lock held);
        returns with the flag as found. Emits ``TASKLET_SCHEDULE`` with ``cause``."""
        ...
