"""Scenarios, registered by name: the lock checks, the hypervisor hosts, the bare-metal
Linux hosts."""

from pathlib import Path

# isort: off
from . import lock_streams as lock_streams
from . import hypervisor as hypervisor
from . import linux_host as linux_host
from . import linux_file as linux_file

# isort: on
from .base import (
    SCENARIOS,
    Scenario,
    register_scenario,
    resolve_scenario_params,
    scenario_designs,
    scenario_names,
    scenario_params,
)
from .host import (
    HOST_PARAMS,
    HostScenario,
    add_idle_guests,
    build_machine,
    device_arrivals,
    dump_scenario,
    host_params,
    load_scenario,
    tick_arrivals,
)


def get_scenario(name: str) -> Scenario:
    """The scenario ``name`` names: a registered name, ``package.module:Class``, or the
    path of a ``.toml`` scenario file (:mod:`.host.toml`)."""
    if isinstance(name, str) and name.endswith(".toml"):
        return load_scenario(name)
    return SCENARIOS.resolve(name)()


def scenario_spec(name: str) -> str:
    """What a worker process needs to find ``name`` again: the file's absolute path, or
    :meth:`~taskletsim.core.registry.Registry.spec`."""
    if isinstance(name, str) and name.endswith(".toml"):
        return str(Path(name).resolve())
    return SCENARIOS.spec(name)


__all__ = [
    "HOST_PARAMS",
    "SCENARIOS",
    "HostScenario",
    "Scenario",
    "add_idle_guests",
    "build_machine",
    "device_arrivals",
    "dump_scenario",
    "get_scenario",
    "host_params",
    "load_scenario",
    "register_scenario",
    "resolve_scenario_params",
    "scenario_designs",
    "scenario_names",
    "scenario_params",
    "scenario_spec",
    "tick_arrivals",
]
