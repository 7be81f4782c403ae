"""Tasklet designs, one module each, registered by name in the order below: the first,
Xen 4.4's, is the baseline every comparison is a ratio to."""

# isort: off
from . import xen44_global as xen44_global
from . import rfc_percpu as rfc_percpu
from . import xen46_dpci as xen46_dpci
from . import linux as linux
from . import linux_bh_wq as linux_bh_wq
from . import linux_threaded as linux_threaded

# isort: on
from .base import (
    STATE_RUN,
    STATE_SCHED,
    Tasklet,
    TaskletDesign,
    design_names,
    get_design,
    register_design,
)

__all__ = [
    "STATE_RUN",
    "STATE_SCHED",
    "Tasklet",
    "TaskletDesign",
    "design_names",
    "get_design",
    "register_design",
]
