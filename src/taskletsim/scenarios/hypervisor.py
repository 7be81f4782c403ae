"""Hypervisor scenarios: a Xen host with passthrough devices and guests' timer ticks.

``small-2socket`` (2 sockets x 4 cores): two busy guests on socket 0 own one
passthrough MSI each, the other six CPUs run idle guests; every vCPU has a
periodic tick. It runs the two paths of the seed on every design in well
under a second.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from ..core.config import ConfigError, Param
from ..core.sim import Simulation
from ..designs import design_options
from ..hv.costs import HvCosts
from ..hv.machine import Machine
from ..platform.arrivals import Arrivals, Moderated, Periodic, Poisson
from ..platform.topology import Topology, TransferCosts
from .base import Scenario, register_scenario
from .lock_streams import LOCK_PARAMS

_LOCK_MODEL = tuple(
    p for p in LOCK_PARAMS if p.name in ("lock", "transfer_ns", "numa_bias", "spinner_share")
)

HOST_PARAMS: tuple[Param, ...] = (
    *_LOCK_MODEL,
    Param(
        "irq_rate_per_s",
        "float",
        20_000.0,
        "MSI rate of each passthrough device, per s",
        positive=True,
    ),
    Param(
        "irq_process",
        "choice",
        "poisson",
        "device interrupt arrivals",
        choices=("poisson", "periodic"),
    ),
    Param(
        "itr_us",
        "float",
        None,
        "interrupt moderation interval (ITR), us; none = off",
        positive=True,
        optional=True,
    ),
    Param("tick_hz", "float", 1000.0, "guest timer tick rate, per s", positive=True),
    Param("tick_jitter_ns", "int", 10_000, "tick jitter, +- ns", minimum=0),
    Param("idle_burst_ns", "int", 20_000, "guest work per tick of an idle guest, ns", minimum=0),
    Param("apicv", "choice", "off", "APICv: no EOI exits", choices=("off", "on")),
    Param("vcpus_per_idle_cpu", "int", 1, "idle guests' vCPUs pinned to each idle pCPU", minimum=1),
    Param("tslice_ms", "float", 30.0, "credit1 timeslice, ms", positive=True),
    Param("ratelimit_us", "float", 1000.0, "credit1 rate limit, us (0: off)", minimum=0),
    Param("sched_tick_ms", "float", 10.0, "credit1 accounting tick, ms", positive=True),
    *HvCosts.params(),
)


def device_arrivals(params: dict[str, Any]) -> Arrivals:
    """The device interrupt process the parameters describe."""
    rate = params["irq_rate_per_s"]
    base: Arrivals = (
        Poisson(rate) if params["irq_process"] == "poisson" else Periodic(round(1e9 / rate))
    )
    if params["itr_us"] is not None:
        return Moderated(base, round(params["itr_us"] * 1000))
    return base


def tick_arrivals(params: dict[str, Any]) -> Arrivals:
    """A vCPU's periodic tick."""
    period = round(1e9 / params["tick_hz"])
    if params["tick_jitter_ns"] * 2 >= period:
        raise ConfigError(
            "tick_jitter_ns", params["tick_jitter_ns"], f"less than half the tick ({period} ns)"
        )
    return Periodic(period, params["tick_jitter_ns"])


def build_machine(
    sim: Simulation, params: dict[str, Any], design: str, sockets: int, cores: int
) -> Machine:
    """The host of a hypervisor scenario, without guests."""
    costs = None if params["transfer_ns"] is None else TransferCosts.uniform(params["transfer_ns"])
    return Machine(
        sim,
        Topology(sockets, cores, 1, costs),
        design=design,
        costs=HvCosts.from_params(params),
        lock=params["lock"],
        numa_bias=params["numa_bias"],
        spinner_share=params["spinner_share"],
        apicv=params["apicv"] == "on",
        tslice_ns=round(params["tslice_ms"] * 1e6),
        ratelimit_ns=round(params["ratelimit_us"] * 1e3),
        tick_ns=round(params["sched_tick_ms"] * 1e6),
        design_options={p.name: params[p.name] for p in design_options() if p.name in params},
    )


class HostScenario(Scenario):
    """Base of the hypervisor scenarios: takes a design, shares the host parameters."""

    takes_design = True
    default_design: ClassVar[str] = "xen-4.4-global"


@register_scenario
class Small2Socket(HostScenario):
    """2 sockets x 4 cores, two busy guests with a passthrough device each, six idle guests."""

    name = "small-2socket"
    description = "2x4 CPUs: 2 busy guests with passthrough MSIs, 6 idle guests, 1 kHz ticks"
    params = HOST_PARAMS
    default_duration_ms = 100.0

    def build(
        self, sim: Simulation, params: dict[str, Any], design: str | None = None
    ) -> Callable[[], dict[str, Any]]:
        m = build_machine(sim, params, design or self.default_design, sockets=2, cores=4)
        for cpu in range(2):
            d = m.add_domain(f"busy{cpu}")
            v = m.add_vcpu(d, cpu, "busy")
            m.add_device(d, v, device_arrivals(params))
            m.add_tick(v, tick_arrivals(params))
        add_idle_guests(m, params, range(2, 8))
        return lambda: {}


@register_scenario
class Xen8SocketPassthrough(HostScenario):
    """The seed's host: 8 sockets, four busy with passthrough interrupts, four idle.

    Busy sockets: one busy guest vCPU per pCPU, each owning a passthrough MSI
    at ``irq_rate_per_s`` and ticking at ``tick_hz``. Idle sockets:
    ``vcpus_per_idle_cpu`` idle guests per pCPU, each ticking at ``tick_hz``.
    Values and their sources: docs/calibration.md.
    """

    name = "xen-8socket-passthrough"
    description = "the seed's host: 8 sockets, 4 busy with passthrough MSIs, 4 with idle guests"
    params = (
        Param("sockets", "int", 8, "sockets", minimum=2),
        Param("cores_per_socket", "int", 4, "cores per socket (assumption, for speed)", minimum=1),
        Param(
            "busy_sockets", "int", 4, "sockets whose pCPUs run busy passthrough guests", minimum=1
        ),
        *HOST_PARAMS,
    )
    default_duration_ms = 100.0

    def build(
        self, sim: Simulation, params: dict[str, Any], design: str | None = None
    ) -> Callable[[], dict[str, Any]]:
        sockets, cores, busy = params["sockets"], params["cores_per_socket"], params["busy_sockets"]
        if busy >= sockets:
            raise ConfigError("busy_sockets", busy, f"fewer than sockets ({sockets})")
        m = build_machine(sim, params, design or self.default_design, sockets, cores)
        for cpu in range(busy * cores):
            d = m.add_domain(f"busy{cpu}")
            v = m.add_vcpu(d, cpu, "busy")
            m.add_device(d, v, device_arrivals(params))
            m.add_tick(v, tick_arrivals(params))
        add_idle_guests(m, params, range(busy * cores, sockets * cores))
        offered = busy * cores * params["irq_rate_per_s"]
        if params["itr_us"] is not None:
            offered = min(offered, busy * cores * 1e6 / params["itr_us"])
        return lambda: {"offered_irq_per_s": offered}


def add_idle_guests(m: Machine, params: dict[str, Any], cpus: Any) -> None:
    """``vcpus_per_idle_cpu`` one-vCPU idle guests pinned to each of ``cpus``, with ticks."""
    for cpu in cpus:
        for k in range(params["vcpus_per_idle_cpu"]):
            d = m.add_domain(f"idle{cpu}" + (f"-{k}" if k else ""))
            v = m.add_vcpu(d, cpu, "idle", burst_ns=params["idle_burst_ns"])
            m.add_tick(v, tick_arrivals(params))
