"""Built-in scenarios, registered by name."""

from . import hypervisor as hypervisor
from . import lock_streams as lock_streams
from .base import Scenario, get_scenario, register_scenario, scenario_names, scenario_params

__all__ = [
    "Scenario",
    "get_scenario",
    "register_scenario",
    "scenario_names",
    "scenario_params",
]
