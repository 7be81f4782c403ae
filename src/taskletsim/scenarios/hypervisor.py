"""Hypervisor scenarios: a Xen host with passthrough devices and guests' timer ticks.

``small-2socket`` (2 sockets x 4 cores): two busy guests on socket 0 own one
passthrough MSI each, the other six CPUs run idle guests; every vCPU has a
periodic tick. It runs the two paths of the seed on every design in well
under a second.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.config import ConfigError, Param
from ..core.sim import Simulation
from .base import register_scenario
from .hosts import (
    HOST_PARAMS,
    HostScenario,
    add_idle_guests,
    build_machine,
    device_arrivals,
    tick_arrivals,
)


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
