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

from collections.abc import Callable
from functools import partial
from typing import cast

from ..core.sim import Simulation
from ..core.trace import VcpuInfo
from ..kernel.host import Kernel
from ..kernel.irq import IrqSource
from ..kernel.seam import design_for_host
from ..kernel.softirq import softirq_table
from ..kernel.timers import Timer, timer_interrupt, timer_softirq_action
from ..platform.arrivals import Arrivals
from ..platform.locks import SpinLock
from ..platform.topology import Topology
from .costs import HvCosts
from .cpu import PCpu
from .devices import PassthroughDevice
from .guests import Domain, GuestWork, Pirq, VCpu
from .hvm import (
    do_IRQ_guest,
    event_check_interrupt,
    hvm_assert_evtchn_irq,
    hvm_dirq_assist,
    hvm_dirq_assist_pirq,
    hvm_do_hypercall,
    hvm_dpci_msi_eoi,
    hvm_hlt,
    vcpu_periodic_timer_fn,
    vcpu_periodic_timer_work,
    vcpu_singleshot_timer_fn,
)
from .sched_credit import CreditScheduler
from .schedule import schedule, vcpu_runstate_change
from .seam import DesignHooks, Proc, TaskletFunc
from .vocabulary import DEVICE_MODELS, EXIT_NONE, MSI_DELIVERY, WORKLOADS, XEN_SOFTIRQS, Runstate

__all__ = ["DEVICE_MODELS", "MSI_DELIVERY", "WORKLOADS", "Domain", "IrqSource", "Machine", "VCpu"]


def xen_design(name: str) -> type[DesignHooks]:
    """The design registered as ``name``, which must run on the Xen host."""
    return cast(type[DesignHooks], design_for_host(name, "xen"))


def _nothing(cpu: PCpu) -> Proc:
    """A softirq with no work in the model (its raise still matters: e.g. VCPU_KICK)."""
    return
    yield


class Machine(Kernel[PCpu, HvCosts]):
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
        tslice_ns: int = 30_000_000,
        ratelimit_ns: int = 1_000_000,
        tick_ns: int = 10_000_000,
    ) -> None:
        design_cls = xen_design(design)
        super().__init__(
            sim,
            topology,
            costs or HvCosts(),
            softirq_table(XEN_SOFTIRQS, design_cls.softirqs),
            lock or design_cls.default_lock,
            {"numa_bias": numa_bias, "spinner_share": spinner_share},
        )
        self.apicv = apicv
        self.design_options = dict(design_options or {})
        sim.trace.meta.design = design_cls.name
        self._call_lock: SpinLock | None = None
        self.domains: list[Domain] = []
        self.vcpus: list[VCpu] = []
        for c in range(topology.ncpus):
            cpu = PCpu(self, c, VCpu(self, None, f"d32767v{c}", c, "idle"))
            cpu.ipi = IrqSource(self, f"ipi:cpu{c}", c, event_check_interrupt, "ipi")
            self.cpus.append(cpu)
        self.design: DesignHooks = design_cls(self)
        if getattr(self.design, "own_softirq_engine", True):  # undeclared: call the design
            for cpu in self.cpus:
                cpu.softirq_engine = self.design.do_softirq
        self.sched = CreditScheduler(
            self, tslice_ns=tslice_ns, ratelimit_ns=ratelimit_ns, tick_ns=tick_ns
        )
        handlers: list[Callable[[PCpu], Proc]] = [_nothing] * len(self.softirq_names)
        handlers[self.softirq_nr["TIMER_SOFTIRQ"]] = timer_softirq_action
        handlers[self.softirq_nr["SCHEDULE_SOFTIRQ"]] = schedule
        for name, action in self.design.softirq_handlers().items():
            handlers[self.softirq_nr[name]] = action
        self.softirq_handlers = handlers

    @property
    def call_lock(self) -> SpinLock:
        """``call_lock`` of xen/common/smp.c (made on first use)."""
        if self._call_lock is None:
            self._call_lock = self.make_lock("call_lock")
        return self._call_lock

    def add_domain(self, name: str) -> Domain:
        """A new guest domain."""
        domain = Domain(self, len(self.domains) + 1, name)
        self.domains.append(domain)
        return domain

    def add_vcpu(
        self,
        domain: Domain,
        cpu: int,
        workload: str,
        burst_ns: int = 0,
        affinity: tuple[int, ...] | None = None,
        soft_affinity: tuple[int, ...] | None = None,
        run_ns: float = 1_000_000.0,
        block_ns: float = 1_000_000.0,
    ) -> VCpu:
        """A vCPU of ``domain`` starting on pCPU ``cpu`` (hard ``affinity``: default that CPU;
        ``soft_affinity``, a preferred subset of it: default all of it).

        A ``busy`` or ``mixed`` vCPU starts runnable: it runs at once if its
        pCPU has nothing else, else it waits in the run queue. An ``idle`` one
        starts blocked. ``mixed`` runs and blocks for exponential times of
        means ``run_ns`` and ``block_ns``.
        """
        if workload not in WORKLOADS:
            raise ValueError(f"workload {workload!r}: expected one of {WORKLOADS}")
        name = f"{domain.name}v{len(domain.vcpus)}"
        v = VCpu(self, domain, name, cpu, workload, burst_ns, affinity, soft_affinity)
        if cpu not in v.affinity:
            raise ValueError(f"{name}: pCPU {cpu} is outside its affinity {v.affinity}")
        domain.vcpus.append(v)
        self.vcpus.append(v)
        self.sim.trace.meta.vcpus[name] = VcpuInfo(domain.name, workload)
        v.evtchn_tasklet = self.design.tasklet_init(
            f"{name}:assert_evtchn_irq_tasklet",
            _tasklet_func(partial(_assert_evtchn_irq_tasklet, v=v)),
        )
        if workload == "mixed":
            v.draw_run = self.sim.exponential(f"run:{name}", run_ns)
            v.draw_block = self.sim.exponential(f"block:{name}", block_ns)
            v.oneshot = Timer(self, f"{name}:oneshot", cpu, vcpu_singleshot_timer_fn, "timer")
            v.oneshot.source.owner = v
            v.todo.append(GuestWork(GuestWork.BURST, v.draw_run(), EXIT_NONE, None))
        pcpu = self.cpus[cpu]
        if v.runstate == Runstate.RUNNABLE and pcpu.current.is_idle and not self.sched.runq[cpu]:
            v.runstate = Runstate.RUNNING
            pcpu.current = v
            self.sched.dispatched(pcpu, v, self.sched.tslice_ns, 0)
        elif v.runstate == Runstate.RUNNABLE:
            self.sched.runq_insert(cpu, v)
        self.sim.trace.runstate_change(cpu, v.id, int(v.runstate))
        return v

    def vcpu_migrate(self, v: VCpu, cpu: int) -> None:
        """``vcpu_migrate``: ``v`` now runs on ``cpu``; its timers and the IRQs of its
        passthrough devices follow it (``migrate_timer``, ``hvm_migrate_pirqs``)."""
        old = v.processor
        v.processor = cpu
        for source in self.sources_of(v):
            if source.cpu == old:
                source.cpu = cpu

    def sources_of(self, v: VCpu) -> list[IrqSource]:
        """The tick, one-shot timer and device interrupts that go to ``v``."""
        found = [s for s in (v.tick, v.oneshot.source if v.oneshot else None) if s is not None]
        found += [t.source for t in (v.singleshot_timer, v.periodic_timer) if t is not None]
        if v.domain is not None:
            found += [p.source for p in v.domain.pirqs if p.target is v]
        return found

    def vcpu_down(self, v: VCpu) -> None:
        """``VCPUOP_down`` (control plane, instantaneous): ``v`` goes offline."""
        v.offline = True
        pcpu = self.cpus[v.processor]
        if pcpu.current is v:
            pcpu.softirq_pending |= 1 << self.softirq_nr["SCHEDULE_SOFTIRQ"]
            self.send_ipi(v.processor)
            return
        self.sched.runq_remove(v)
        vcpu_runstate_change(pcpu, v, Runstate.OFFLINE)

    def vcpu_up(self, v: VCpu) -> None:
        """``VCPUOP_up``: ``v`` is runnable again (if it was not blocked)."""
        v.offline = False
        pcpu = self.cpus[v.processor]
        if v.runstate == Runstate.OFFLINE:
            v.blocked = False
            vcpu_runstate_change(pcpu, v, Runstate.RUNNABLE)
            self.sched.runq_insert(v.processor, v)
            pcpu.softirq_pending |= 1 << self.softirq_nr["SCHEDULE_SOFTIRQ"]
            self.send_ipi(v.processor)

    def add_device(
        self,
        domain: Domain,
        target: VCpu,
        arrivals: Arrivals | None = None,
        cpu: int | None = None,
        model: str = "open",
        delivery: str = "vlapic",
    ) -> IrqSource:
        """A passthrough MSI of ``domain`` delivered to ``target``; its IRQ goes to ``cpu``
        (default: the target's pCPU, as Xen moves a pirq's affinity with the vCPU).

        ``model`` is the device's back-pressure (:mod:`taskletsim.hv.devices`:
        ``open``, ``eoi``, ``napi``); ``delivery`` how the guest takes it:
        ``vlapic`` (an MSI through the emulated local APIC, with an EOI exit
        unless APICv) or ``evtchn`` (a PVHVM guest's pirq event channel).
        """
        if delivery not in MSI_DELIVERY:
            raise ValueError(f"msi delivery {delivery!r}: expected one of {MSI_DELIVERY}")
        name = f"{domain.name}:msi{len(domain.pirqs)}"
        where = target.processor if cpu is None else cpu
        source = IrqSource(self, name, where, None, "device")
        device = PassthroughDevice(source, target, model, self.costs.napi_poll_ns)
        source.device = device
        pirq = Pirq(domain, source, target, delivery)
        pirq.dirq_assist = _tasklet_func(partial(hvm_dirq_assist_pirq, pirq=pirq))
        source.owner = pirq
        source.handler = partial(_pirq_handler, pirq=pirq)
        domain.pirqs.append(pirq)
        if domain.dirq_tasklet is None:
            self.design.dirq_init(domain, _tasklet_func(partial(hvm_dirq_assist, d=domain)))
        if arrivals is not None:
            arrivals.start(self.sim, device.arrive, f"irq:{name}")
        return source

    def add_tick(self, v: VCpu, arrivals: Arrivals | None = None) -> IrqSource:
        """A free-running tick: the vCPU's timer fired on its pCPU by ``arrivals``,
        whatever the guest does (the open-loop form; see :meth:`add_guest_tick`)."""
        source = IrqSource(self, f"{v.name}:timer", v.processor, None, "timer", owner=v)
        source.handler = partial(timer_interrupt, source)
        source.timer_fn = vcpu_singleshot_timer_fn
        v.tick = source
        v.tick_mode = "free"
        if arrivals is not None:
            source.start(arrivals)
        return source

    def add_guest_tick(
        self,
        v: VCpu,
        period_ns: int,
        origin_ns: int,
        mode: str = "singleshot",
        jitter_ns: int = 0,
    ) -> IrqSource:
        """The guest's tick on the grid ``origin_ns + k * period_ns``, kept the guest's way.

        ``singleshot`` (a Linux PVHVM guest): Xen's ``singleshot_timer`` fires
        at the next grid point; the guest's tick handler arms the one after
        with ``VCPUOP_set_singleshot_timer``, so a tick not yet handled arms
        none. ``periodic`` (``VCPUOP_set_periodic_timer``): Xen's
        ``periodic_timer``, stopped while the vCPU is descheduled and
        re-armed by ``schedule()`` (``vcpu_periodic_timer_work``). A timer
        fires up to ``jitter_ns`` late (uniform).
        """
        if mode not in ("singleshot", "periodic"):
            raise ValueError(f"tick mode {mode!r}: expected singleshot or periodic")
        v.tick_mode = mode
        v.tick_period_ns = period_ns
        v.tick_origin_ns = origin_ns
        if jitter_ns:
            draw = self.sim.integers(f"tick-jitter:{v.name}", jitter_ns + 1)
            v.tick_jitter = draw
        fn = vcpu_singleshot_timer_fn if mode == "singleshot" else vcpu_periodic_timer_fn
        timer = Timer(self, f"{v.name}:timer", v.processor, fn, "timer")
        timer.source.owner = v
        v.tick = timer.source
        if mode == "singleshot":
            v.singleshot_timer = timer
            first = v.next_tick_ns(self.sim.clock.now - 1)
            timer.set_timer(first + (v.tick_jitter() if v.tick_jitter else 0))
        else:
            v.periodic_timer = timer
            v.periodic_period = period_ns
            # schedule() may send its tick with no interrupt: see the virq-raised invariant
            self.sim.trace.meta.extra.setdefault("scheduler_ticks", []).append(timer.source.id)
            v.periodic_last_event = v.next_tick_ns(self.sim.clock.now - 1) - period_ns
            if v.runstate == Runstate.RUNNING:
                timer.set_timer(v.periodic_last_event + period_ns - self.sim.clock.now)
        return timer.source

    def cpu_down(self, dead: int, on: int) -> None:
        """Take CPU ``dead`` offline now; CPU ``on`` runs the CPU_DEAD notifier
        (``migrate_tasklets_from_cpu``) at its next idle-loop pass.

        The dead CPU must be idle (its guest vCPU moved away first): it stops
        taking interrupts and stops running softirqs, as after ``__cpu_disable``.
        A cross-CPU call still on its way to it (``on_selected_cpus``) is taken
        first: Xen brings a CPU down under ``stop_machine``, which cannot
        start while another CPU spins waiting for that call.
        """
        dying = self.cpus[dead]
        if not dying.current.is_idle or self.sched.runq[dead]:
            raise ValueError(f"CPU {dead} has guest vCPUs: move them before cpu_down")
        if dying.cross_calls:
            self.sim.call_later(self.costs.ipi_latency_ns, lambda _e: self.cpu_down(dead, on))
            return
        dying.go_offline()
        self.cpus[on].call_on_cpu(lambda cpu: self.design.migrate_tasklets_from_cpu(cpu, dead))

    # These hand back their path's generator rather than wrapping it in one of their own:
    # one generator fewer per call, one level fewer for each yield inside it.

    def hvm_hlt(self, cpu: PCpu, v: VCpu) -> Proc:
        """The HLT exit handler."""
        return hvm_hlt(cpu, v)

    def hvm_dpci_msi_eoi(self, cpu: PCpu, v: VCpu) -> Proc:
        """The EOI-write exit handler."""
        return hvm_dpci_msi_eoi(cpu, v)

    def hvm_do_hypercall(self, cpu: PCpu, v: VCpu) -> Proc:
        """The VMCALL exit handler (the guest re-arming its tick)."""
        return hvm_do_hypercall(cpu, v)

    def vcpu_periodic_timer_work(self, cpu: PCpu, v: VCpu) -> Proc:
        """``schedule()``'s call for the vCPU it switches to."""
        return vcpu_periodic_timer_work(cpu, v)


def _tasklet_func(func: Callable[[PCpu], Proc]) -> TaskletFunc:
    """A path function as a design's tasklet function: designs call it with the
    CPU that runs it, which is always one of this machine's PCpus."""
    return cast(TaskletFunc, func)


def _assert_evtchn_irq_tasklet(cpu: PCpu, v: VCpu) -> Proc:
    """The tasklet's function: ``hvm_assert_evtchn_irq(v)``, now with IRQs on."""
    return hvm_assert_evtchn_irq(cpu, v)


def _pirq_handler(cpu: PCpu, seq: int, pirq: Pirq) -> Proc:
    return do_IRQ_guest(cpu, pirq, seq)
