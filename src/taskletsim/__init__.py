"""taskletsim: simulate a hypervisor's interrupt path and what its locks cost.

Public API::

    import taskletsim as ts
    result = ts.run("lock-open", seed=1, params={"lock": "ticket", "rate_per_s": 6e5})
    stats = ts.lock_stats(result.trace)
"""

from .config import ConfigError, Param
from .locks import LOCK_KINDS, MCSLock, SpinLock, TicketLock, TTASLock, make_lock
from .metrics import LockStats, Summary, lock_stats
from .report import document, format_lock_stat, format_xenlockprof, run_json
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
    "LockStats",
    "MCSLock",
    "NameTable",
    "Param",
    "RunResult",
    "Scenario",
    "Simulation",
    "SpinLock",
    "Summary",
    "TTASLock",
    "TicketLock",
    "Topology",
    "Trace",
    "TraceRecorder",
    "TransferCosts",
    "__version__",
    "document",
    "format_lock_stat",
    "format_xenlockprof",
    "get_scenario",
    "lock_stats",
    "make_lock",
    "register_scenario",
    "run",
    "run_json",
    "scenario_names",
]
