"""A Xen host: topology, physical CPUs, the tasklet design, guests and interrupt sources.

Build one, add domains, vCPUs, devices and ticks, then run its simulation::

    sim = Simulation(seed=1)
    m = Machine(sim, Topology(2, 4), design="xen-4.4-global")
    d = m.add_domain("d1")
    v = m.add_vcpu(d, cpu=0, workload="busy")
    m.add_device(d, v, Poisson(20_000))
    m.add_tick(v, Periodic(1_000_000))
    sim.run(100_000_000)
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from .costs import HvCosts
from .cpu import PCpu, Proc
from .designs import get_design
from .guests import WORKLOADS, Domain, Pirq, VCpu
from .hvm import (
    do_IRQ_guest,
    event_check_interrupt,
    hvm_dirq_assist,
    hvm_dpci_msi_eoi,
    hvm_hlt,
    timer_interrupt,
    timer_softirq_action,
)
from .interrupts import Arrivals, IrqSource
from .locks import SpinLock, make_lock
from .schedule import schedule
from .sim import Simulation
from .softirq import softirq_table
from .topology import Topology

if TYPE_CHECKING:
    from .designs.base import SoftirqHandler


def _nothing(cpu: PCpu) -> Proc:
    """A softirq with no work in the model (its raise still matters: e.g. VCPU_KICK)."""
    return
    yield


class Machine:
    """The host. ``lock`` (default: the design's), ``numa_bias`` and ``spinner_share``
    set every spinlock's model; ``design_options`` go to the design."""

    def __init__(
        self,
        sim: Simulation,
        topology: Topology,
        design: str = "xen-4.4-global",
        costs: HvCosts | None = None,
        lock: str | None = None,
        numa_bias: float = 1.0,
        spinner_share: float = 0.5,
        apicv: bool = False,
        design_options: dict[str, object] | None = None,
    ) -> None:
        self.sim = sim
        self.topology = topology
        self.costs = costs or HvCosts()
        design_cls = get_design(design)
        self.lock_kind = lock or design_cls.default_lock
        self.lock_options = {"numa_bias": numa_bias, "spinner_share": spinner_share}
        self.apicv = apicv
        self.design_options = dict(design_options or {})
        self.softirq_names = softirq_table(design_cls.softirqs)
        self.softirq_nr = {name: nr for nr, name in enumerate(self.softirq_names)}
        meta = sim.trace.meta
        meta["design"] = design
        meta["lock_kind"] = self.lock_kind
        meta["topology"] = topology.describe()
        meta["cpu_socket"] = topology.socket_list
        meta["softirqs"] = list(self.softirq_names)
        self.domains: list[Domain] = []
        self.vcpus: list[VCpu] = []
        self.guest_on: list[VCpu | None] = [None] * topology.ncpus
        self.cpus: list[PCpu] = []
        for c in range(topology.ncpus):
            cpu = PCpu(self, c, VCpu(self, None, f"d32767v{c}", c, "idle"))
            cpu.ipi = IrqSource(self, f"ipi:cpu{c}", c, event_check_interrupt, "ipi")
            self.cpus.append(cpu)
        self.design = design_cls(self)
        handlers: list[SoftirqHandler] = [_nothing] * len(self.softirq_names)
        handlers[self.softirq_nr["TIMER_SOFTIRQ"]] = timer_softirq_action
        handlers[self.softirq_nr["SCHEDULE_SOFTIRQ"]] = schedule
        for name, action in self.design.softirq_handlers().items():
            handlers[self.softirq_nr[name]] = action
        self.softirq_handlers = handlers

    def make_lock(self, name: str) -> SpinLock:
        """A spinlock of the machine's lock model."""
        return make_lock(self.lock_kind, self.sim, name, self.topology, **self.lock_options)

    def add_domain(self, name: str) -> Domain:
        """A new guest domain."""
        domain = Domain(self, len(self.domains) + 1, name)
        self.domains.append(domain)
        return domain

    def add_vcpu(self, domain: Domain, cpu: int, workload: str, burst_ns: int = 0) -> VCpu:
        """A vCPU of ``domain`` pinned to pCPU ``cpu`` (one guest vCPU per pCPU for now)."""
        if workload not in WORKLOADS:
            raise ValueError(f"workload {workload!r}: expected one of {WORKLOADS}")
        if self.guest_on[cpu] is not None:
            raise ValueError(f"pCPU {cpu} already runs {self.guest_on[cpu].name}")  # type: ignore[union-attr]
        v = VCpu(self, domain, f"{domain.name}v{len(domain.vcpus)}", cpu, workload, burst_ns)
        domain.vcpus.append(v)
        self.vcpus.append(v)
        self.guest_on[cpu] = v
        v.evtchn_tasklet = self.design.tasklet_init(
            f"{v.name}:assert_evtchn_irq_tasklet", partial(_assert_evtchn_irq_tasklet, v=v)
        )
        if workload == "busy":
            self.cpus[cpu].current = v
        return v

    def add_device(
        self, domain: Domain, target: VCpu, arrivals: Arrivals | None = None, cpu: int | None = None
    ) -> IrqSource:
        """A passthrough MSI of ``domain`` delivered to ``target``; its IRQ goes to ``cpu``
        (default: the target's pCPU, as Xen moves a pirq's affinity with the vCPU)."""
        name = f"{domain.name}:msi{len(domain.pirqs)}"
        where = target.processor if cpu is None else cpu
        source = IrqSource(self, name, where, None, "device", needs_eoi_exit=True)
        pirq = Pirq(domain, source, target)
        source.owner = pirq
        source.handler = partial(_pirq_handler, pirq=pirq)
        domain.pirqs.append(pirq)
        if domain.dirq_tasklet is None:
            self.design.dirq_init(domain, partial(hvm_dirq_assist, d=domain))
        if arrivals is not None:
            source.start(arrivals)
        return source

    def add_tick(self, v: VCpu, arrivals: Arrivals | None = None) -> IrqSource:
        """The vCPU's singleshot timer, fired on its pCPU by ``arrivals``."""
        source = IrqSource(self, f"{v.name}:timer", v.processor, None, "timer", owner=v)
        source.handler = partial(timer_interrupt, source=source)
        if arrivals is not None:
            source.start(arrivals)
        return source

    def send_ipi(self, target: int) -> None:
        """An event-check IPI reaches ``target`` after ``ipi_latency_ns``."""
        ipi = self.cpus[target].ipi
        assert ipi is not None
        self.sim.call_later(self.costs.ipi_latency_ns, lambda _e: ipi.raise_irq())

    def cpu_down(self, dead: int, on: int) -> None:
        """Take CPU ``dead`` offline now; CPU ``on`` runs the CPU_DEAD notifier
        (``migrate_tasklets_from_cpu``) at its next idle-loop pass.

        The dead CPU must be idle (its guest vCPU moved away first): it stops
        taking interrupts and stops running softirqs, as after ``__cpu_disable``.
        """
        if self.guest_on[dead] is not None and not self.cpus[dead].current.is_idle:
            raise ValueError(f"CPU {dead} runs a guest vCPU: move it before cpu_down")
        self.cpus[dead].go_offline()
        self.cpus[on].call_on_cpu(lambda cpu: self.design.migrate_tasklets_from_cpu(cpu, dead))

    def hvm_hlt(self, cpu: PCpu, v: VCpu) -> Proc:
        """The HLT exit handler."""
        yield from hvm_hlt(cpu, v)

    def hvm_dpci_msi_eoi(self, cpu: PCpu, v: VCpu) -> Proc:
        """The EOI-write exit handler."""
        yield from hvm_dpci_msi_eoi(cpu, v)


def _assert_evtchn_irq_tasklet(cpu: PCpu, v: VCpu) -> Proc:
    """The tasklet's function: ``hvm_assert_evtchn_irq(v)``, now with IRQs on."""
    from .hvm import hvm_assert_evtchn_irq

    yield from hvm_assert_evtchn_irq(cpu, v)


def _pirq_handler(cpu: PCpu, seq: int, pirq: Pirq) -> Proc:
    yield from do_IRQ_guest(cpu, pirq, seq)
