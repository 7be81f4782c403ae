"""taskletsim: simulate a hypervisor's interrupt path and what its locks cost.

Public API::

    import taskletsim as ts
    result = ts.run("lock-open", seed=1, params={"lock": "ticket", "rate_per_s": 6e5})
    stats = ts.lock_stats(result.trace)
"""

from .config import ConfigError, Param
from .costs import HvCosts
from .designs import Tasklet, TaskletDesign, design_names, get_design, register_design
from .export import chrome_trace_events, save_chrome_trace
from .interrupts import IrqSource, Moderated, OnOff, Periodic, Poisson, Replay
from .locks import LOCK_KINDS, MCSLock, SpinLock, TicketLock, TTASLock, make_lock
from .machine import Machine
from .metrics import (
    InvariantError,
    Latency,
    LockStats,
    Summary,
    VcpuTime,
    check_trace,
    irq_latency,
    latency_histogram,
    lock_stats,
    vcpu_times,
)
from .report import document, format_comparison, format_lock_stat, format_xenlockprof, run_json
from .runner import RunResult, run
from .scenarios import Scenario, get_scenario, register_scenario, scenario_names
from .sim import Simulation
from .topology import Distance, Topology, TransferCosts
from .trace import EventKind, NameTable, Trace, TraceRecorder

__version__ = "0.1.0"

__all__ = [
    "LOCK_KINDS",
    "ConfigError",
    "Distance",
    "EventKind",
    "HvCosts",
    "InvariantError",
    "IrqSource",
    "Latency",
    "LockStats",
    "MCSLock",
    "Machine",
    "Moderated",
    "NameTable",
    "OnOff",
    "Param",
    "Periodic",
    "Poisson",
    "Replay",
    "RunResult",
    "Scenario",
    "Simulation",
    "SpinLock",
    "Summary",
    "TTASLock",
    "Tasklet",
    "TaskletDesign",
    "TicketLock",
    "Topology",
    "Trace",
    "TraceRecorder",
    "TransferCosts",
    "VcpuTime",
    "__version__",
    "check_trace",
    "chrome_trace_events",
    "design_names",
    "document",
    "format_comparison",
    "format_lock_stat",
    "format_xenlockprof",
    "get_design",
    "get_scenario",
    "irq_latency",
    "latency_histogram",
    "lock_stats",
    "make_lock",
    "register_design",
    "register_scenario",
    "run",
    "run_json",
    "save_chrome_trace",
    "scenario_names",
    "vcpu_times",
]
