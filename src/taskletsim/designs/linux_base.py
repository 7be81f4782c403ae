"""The base of the designs that run only on the bare-metal Linux host.

Such a design implements the Linux host's contract
(:class:`taskletsim.linux.seam.LinuxDesignHooks`): its softirq actions
(:meth:`LinuxHostDesign.softirq_handlers`), :meth:`LinuxHostDesign.tasklet_init`
for each driver instance's deferred work, and ``tasklet_schedule`` called from
the driver's hard IRQ handler; it traces ``TASKLET_SCHEDULE``, ``TASKLET_ENTRY``
and ``TASKLET_EXIT`` as the Xen designs do. Subclass :class:`LinuxHostDesign`,
set ``name`` and ``description``, implement ``tasklet_schedule`` (and the
softirq actions it needs), and register the class with :data:`DESIGNS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from ..core.config import Param
from ..kernel.seam import Proc, Tasklet
from ..linux.seam import Cpu, Host
from .base import parse_options


class LinuxHostDesign:
    """What every Linux-host-only design shares: its options, its trace, ``tasklet_init``,
    and the cost of a locked bit operation on a work object's flags."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    host: ClassVar[str] = "linux"
    hosts: ClassVar[tuple[str, ...]] = ("linux",)
    softirqs: ClassVar[tuple[tuple[str, str | None], ...]] = ()
    default_lock: ClassVar[str] = "mcs"
    """Linux's spinlocks are queued spinlocks."""
    options: ClassVar[tuple[Param, ...]] = ()

    def __init__(self, machine: Host) -> None:
        self.machine = machine
        self.sim = machine.sim
        self._trace = machine.sim.trace
        self._clock = machine.sim.clock
        self._cost = machine.topology.cost
        self.option: dict[str, Any] = parse_options(self, machine.design_options)

    def softirq_handlers(self) -> dict[str, Callable[[Any], Proc]]:
        """The design's softirq actions by name (none unless it has some)."""
        return {}

    def tasklet_init(
        self, name: str, func: Callable[[Any], Proc], is_softirq: bool = True
    ) -> Tasklet:
        """A work object traced as ``name``, running ``func(cpu)``."""
        return Tasklet(self._trace.names.add("tasklet", name), name, func, is_softirq)

    def tasklet_schedule(self, cpu: Cpu, t: Tasklet, cause: int = -1) -> Proc:
        """Defer ``t`` (the design's own way); ``cause`` the IRQ source behind it."""
        raise NotImplementedError
        yield

    def atomic(self, cpu: Cpu, t: Tasklet) -> Proc:
        """A locked bit operation on the object's flags: the line comes from its last
        toucher."""
        last = t.last_cpu if t.last_cpu >= 0 else cpu.id
        t.last_cpu = cpu.id
        yield from cpu.work(self._cost[last][cpu.id])
