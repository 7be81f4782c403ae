"""Scenarios, registered by name: the lock checks, then the hypervisor hosts."""

# isort: off
from . import lock_streams as lock_streams
from . import hypervisor as hypervisor

# isort: on
from .base import (
    SCENARIOS,
    Scenario,
    get_scenario,
    register_scenario,
    resolve_scenario_params,
    scenario_names,
    scenario_params,
)
from .hosts import (
    HOST_PARAMS,
    HostScenario,
    add_idle_guests,
    build_machine,
    device_arrivals,
    host_params,
    tick_arrivals,
)

__all__ = [
    "HOST_PARAMS",
    "SCENARIOS",
    "HostScenario",
    "Scenario",
    "add_idle_guests",
    "build_machine",
    "device_arrivals",
    "get_scenario",
    "host_params",
    "register_scenario",
    "resolve_scenario_params",
    "scenario_names",
    "scenario_params",
    "tick_arrivals",
]
