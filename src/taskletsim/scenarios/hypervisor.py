"""Hypervisor scenarios: a Xen host with passthrough devices and guests' timer ticks.

``small-2socket`` (2 sockets x 4 cores): two busy guests on socket 0 own one
passthrough MSI each, the other six CPUs run idle guests; every vCPU ticks.
It runs the two paths of the seed on every design in well under a second.
``xen-8socket-passthrough``: the seed's host.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..core.config import ConfigError, Param
from ..platform.topology import MAX_CPUS
from .base import register_scenario
from .host import (
    HOST_PARAMS,
    MAX_VCPUS,
    MAX_VCPUS_PER_CPU,
    MAX_VECTORS_PER_VCPU,
    GuestSpec,
    HostScenario,
    HostSpec,
    idle_guests,
    spec_params,
)


@register_scenario
class Small2Socket(HostScenario):
    """2 sockets x 4 cores, two busy guests with a passthrough device each, six idle guests."""

    name = "small-2socket"
    description = "2x4 CPUs: 2 busy guests with passthrough MSIs, 6 idle guests, 1 kHz ticks"
    params = (
        *HOST_PARAMS,
        Param(
            "vcpus_per_idle_cpu",
            "int",
            1,
            "one-vCPU idle guests on each idle pCPU",
            minimum=1,
            maximum=MAX_VCPUS_PER_CPU,
        ),
    )
    default_duration_ms = 100.0

    def host_spec(self, params: Mapping[str, Any], design: str) -> HostSpec:
        busy = [GuestSpec(f"busy{cpu}", "busy", (cpu,), devices_per_vcpu=1) for cpu in range(2)]
        return HostSpec(
            2, 4, 1, spec_params(params, design), (*busy, *idle_guests(params, range(2, 8)))
        )


@register_scenario
class Xen8SocketPassthrough(HostScenario):
    """The seed's host: 8 sockets, four of them running busy guests with passthrough
    MSI-X vectors, the others idle guests; large multi-vCPU guests.

    Busy guests: ``busy_guests`` of ``busy_vcpus`` vCPUs each, pinned in turn
    to the pCPUs of the busy sockets, each vCPU with ``msix_per_vcpu``
    passthrough vectors at ``irq_rate_per_s`` on its pCPU (one
    ``dirq_tasklet`` per domain). Idle guests: ``idle_guests`` of
    ``idle_vcpus`` vCPUs each on the other sockets' pCPUs, pinned or
    floating over them. Every vCPU ticks at ``tick_hz`` (an idle guest's at
    ``idle_tick_hz`` if set: a NO_HZ guest, woken only by its timers), aligned
    within its guest unless ``skew_tick``. Values and their sources:
    docs/calibration.md.
    """

    name = "xen-8socket-passthrough"
    description = "the seed's host: 8 sockets, busy passthrough guests on 4, idle guests on 4"
    params = (
        Param("sockets", "int", 8, "sockets", minimum=2, maximum=MAX_CPUS),
        Param("cores_per_socket", "int", 10, "cores per socket", minimum=1, maximum=MAX_CPUS),
        Param(
            "threads_per_core",
            "int",
            1,
            "SMT threads per core (2: hyperthreading)",
            minimum=1,
            maximum=MAX_CPUS,
        ),
        Param(
            "busy_sockets",
            "int",
            4,
            "sockets whose pCPUs run the busy guests",
            minimum=1,
            maximum=MAX_CPUS,
        ),
        Param(
            "busy_guests",
            "int",
            6,
            "busy guests (passthrough devices)",
            minimum=1,
            maximum=MAX_VCPUS,
        ),
        Param("busy_vcpus", "int", 6, "vCPUs of each busy guest", minimum=1, maximum=MAX_VCPUS),
        Param(
            "msix_per_vcpu",
            "int",
            1,
            "passthrough MSI-X vectors per busy vCPU",
            minimum=1,
            maximum=MAX_VECTORS_PER_VCPU,
        ),
        Param("idle_guests", "int", 6, "idle guests", minimum=0, maximum=MAX_VCPUS),
        Param(
            "idle_vcpus",
            "int",
            10,
            "vCPUs of each idle guest (calibrated)",
            minimum=1,
            maximum=MAX_VCPUS,
        ),
        Param(
            "idle_placement",
            "choice",
            "pinned",
            "idle vCPUs pinned in turn to the idle pCPUs, or floating over all of them",
            choices=("pinned", "floating"),
        ),
        Param(
            "idle_tick_hz",
            "float",
            None,
            "an idle guest's timer wake-ups per s (a NO_HZ guest stops its tick while idle "
            "and wakes for its next timer); none = tick_hz, a tick that never stops",
            positive=True,
            optional=True,
        ),
        *(
            replace(p, default="mctop-2014") if p.name == "transfer_costs" else p
            for p in HOST_PARAMS
        ),
    )
    default_duration_ms = 100.0

    def host_spec(self, params: Mapping[str, Any], design: str) -> HostSpec:
        sockets, busy = params["sockets"], params["busy_sockets"]
        if busy >= sockets:
            raise ConfigError("busy_sockets", busy, f"fewer than sockets ({sockets})")
        per_socket = params["cores_per_socket"] * params["threads_per_core"]
        busy_cpus = list(range(busy * per_socket))
        idle_cpus = list(range(busy * per_socket, sockets * per_socket))
        vcpus = (
            params["busy_guests"] * params["busy_vcpus"]
            + params["idle_guests"] * params["idle_vcpus"]
        )
        if vcpus > MAX_VCPUS:
            raise ConfigError(
                "busy_guests x busy_vcpus + idle_guests x idle_vcpus",
                vcpus,
                f"at most {MAX_VCPUS} vCPUs in all",
            )
        guests = []
        n = params["busy_vcpus"]
        for g in range(params["busy_guests"]):
            cpus = tuple(busy_cpus[(g * n + k) % len(busy_cpus)] for k in range(n))
            guests.append(GuestSpec(f"busy{g}", "busy", cpus, (), params["msix_per_vcpu"]))
        n = params["idle_vcpus"]
        floating = tuple(idle_cpus) if params["idle_placement"] == "floating" else ()
        nohz = {} if params["idle_tick_hz"] is None else {"tick_hz": params["idle_tick_hz"]}
        for g in range(params["idle_guests"]):
            cpus = tuple(idle_cpus[(g * n + k) % len(idle_cpus)] for k in range(n))
            guests.append(GuestSpec(f"idle{g}", "idle", cpus, floating, overrides=dict(nohz)))
        return HostSpec(
            sockets,
            params["cores_per_socket"],
            params["threads_per_core"],
            spec_params(params, design),
            tuple(guests),
        )
