"""Tasklet designs, one module each, registered by name."""

from . import linux as linux
from . import rfc_percpu as rfc_percpu
from . import xen44_global as xen44_global
from . import xen46_dpci as xen46_dpci
from .base import (
    Tasklet,
    TaskletDesign,
    design_names,
    design_options,
    get_design,
    register_design,
)

__all__ = [
    "Tasklet",
    "TaskletDesign",
    "design_names",
    "design_options",
    "get_design",
    "register_design",
]
