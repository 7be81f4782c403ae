"""A Xen host for a scenario: its parameters (:mod:`.params`), the host as data
(:mod:`.spec`), building it (:mod:`.build`) and host files (:mod:`.toml`)."""

from .build import (
    HostScenario,
    add_guest,
    add_idle_guests,
    add_ticks,
    build_guest,
    build_host,
    build_machine,
    idle_guests,
)
from .params import (
    HOST_PARAMS,
    device_arrivals,
    host_params,
    offered_rate,
    spec_params,
    tick_arrivals,
)
from .spec import (
    MAX_VCPUS,
    MAX_VCPUS_PER_CPU,
    MAX_VECTORS,
    MAX_VECTORS_PER_VCPU,
    DeviceSpec,
    GuestSpec,
    HostSpec,
    Where,
    check_host,
    offered_irq_per_s,
)
from .toml import dump_scenario, load_scenario

__all__ = [
    "HOST_PARAMS",
    "MAX_VCPUS",
    "MAX_VCPUS_PER_CPU",
    "MAX_VECTORS",
    "MAX_VECTORS_PER_VCPU",
    "DeviceSpec",
    "GuestSpec",
    "HostScenario",
    "HostSpec",
    "Where",
    "add_guest",
    "add_idle_guests",
    "add_ticks",
    "build_guest",
    "build_host",
    "build_machine",
    "check_host",
    "device_arrivals",
    "dump_scenario",
    "host_params",
    "idle_guests",
    "load_scenario",
    "offered_irq_per_s",
    "offered_rate",
    "spec_params",
    "tick_arrivals",
]
