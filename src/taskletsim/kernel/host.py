"""What every host has: the simulation, its topology and step costs, its CPUs, the softirq
table with each softirq's action, the spinlock model, and IPIs between CPUs.

A host extends :class:`Kernel` with what only it has (Xen's:
:class:`taskletsim.hv.machine.Machine`, with guests, the scheduler and the
tasklet design); its CPUs extend :class:`~taskletsim.kernel.cpu.PhysCpu`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from mypy_extensions import mypyc_attr

from ..core.sim import Simulation
from ..platform.locks import SpinLock, make_lock
from ..platform.topology import Topology
from .cpu import PhysCpu
from .seam import CpuCosts, Proc

CpuT = TypeVar("CpuT", bound=PhysCpu[Any, Any])
CostsT = TypeVar("CostsT", bound=CpuCosts)


@mypyc_attr(allow_interpreted_subclasses=True)  # the Linux host is not compiled
class Kernel(Generic[CpuT, CostsT]):
    """The parts of a host every kernel has.

    ``softirq_names`` are the softirqs in number order (the host's and the
    design's, :func:`~taskletsim.kernel.softirq.softirq_table`); the host
    fills ``cpus`` and ``softirq_handlers`` (softirq number -> action) as it
    builds itself. Every spinlock is of ``lock_kind``, with ``lock_options``.
    """

    def __init__(
        self,
        sim: Simulation,
        topology: Topology,
        costs: CostsT,
        softirq_names: Sequence[str],
        lock_kind: str,
        lock_options: Mapping[str, Any],
    ) -> None:
        self.sim = sim
        self.topology = topology
        self.costs = costs
        self.softirq_names = tuple(softirq_names)
        self.softirq_nr = {name: nr for nr, name in enumerate(self.softirq_names)}
        self.lock_kind = lock_kind
        self.lock_options = dict(lock_options)
        self.cpus: list[CpuT] = []
        """The host's CPUs (:class:`~taskletsim.kernel.cpu.PhysCpu`), by id."""
        self.softirq_handlers: list[Callable[[CpuT], Proc]] = []
        """Each softirq's action, by number, run by ``run_softirq``."""
        meta = sim.trace.meta
        meta.lock_kind = lock_kind
        meta.topology = topology.describe()
        meta.cpu_socket = topology.socket_list
        meta.softirqs = list(self.softirq_names)

    def make_lock(self, name: str) -> SpinLock:
        """A spinlock of the host's lock model, traced under ``name``."""
        return make_lock(self.lock_kind, self.sim, name, self.topology, **self.lock_options)

    def send_ipi(self, target: int) -> None:
        """An event-check IPI reaches ``target`` after ``ipi_latency_ns``."""
        ipi = self.cpus[target].ipi
        assert ipi is not None
        self.sim.call_later(self.costs.ipi_latency_ns, lambda _e: ipi.raise_irq())
