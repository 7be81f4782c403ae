"""taskletsim: simulate a hypervisor's interrupt path and what its locks cost.

Public API::

    import taskletsim as ts
    result = ts.run("lock-open", seed=1, params={"lock": "ticket", "rate_per_s": 6e5})
    stats = ts.lock_stats(result.trace)
"""

from .capture import export_xentrace, import_ftrace, import_xentrace
from .core.compiled import compiled_modules
from .core.config import ConfigError, Param
from .core.events import EventKind
from .core.recorder import TraceRecorder
from .core.sim import Simulation
from .core.source import TraceSource
from .core.trace import IrqInfo, NameTable, Trace, TraceMeta, VcpuInfo
from .designs import Tasklet, TaskletDesign, design_names, get_design, register_design
from .hv.machine import IrqSource, Machine
from .hv.seam import HvCosts
from .metrics import (
    ContentionStats,
    InvariantError,
    Latency,
    LockStats,
    Measurements,
    Summary,
    VcpuTime,
    check_trace,
    contention_stats,
    irq_latency,
    latency_histogram,
    lock_stats,
    measure,
    vcpu_times,
)
from .output.documents import document, run_json
from .output.export import chrome_trace_events, save_chrome_trace
from .output.tables import format_compare, format_comparison, format_lock_stat, format_xenlockprof
from .platform.arrivals import Moderated, OnOff, Periodic, Poisson, Replay
from .platform.locks import LOCK_KINDS, MCSLock, SpinLock, TicketLock, TTASLock, make_lock
from .platform.topology import Distance, Topology, TransferCosts
from .runner.compare import Comparison, compare
from .runner.result import RunResult
from .runner.single import run, run_spec
from .runner.spec import RunSpec
from .runner.stats import Estimate
from .runner.sweep import SweepResult, sweep
from .scenarios import (
    HOST_PARAMS,
    HostScenario,
    Scenario,
    add_idle_guests,
    build_machine,
    device_arrivals,
    get_scenario,
    register_scenario,
    scenario_designs,
    scenario_names,
    tick_arrivals,
)

__version__ = "0.2.0"

__all__ = [
    "HOST_PARAMS",
    "LOCK_KINDS",
    "Comparison",
    "ConfigError",
    "ContentionStats",
    "Distance",
    "Estimate",
    "EventKind",
    "HostScenario",
    "HvCosts",
    "InvariantError",
    "IrqInfo",
    "IrqSource",
    "Latency",
    "LockStats",
    "MCSLock",
    "Machine",
    "Measurements",
    "Moderated",
    "NameTable",
    "OnOff",
    "Param",
    "Periodic",
    "Poisson",
    "Replay",
    "RunResult",
    "RunSpec",
    "Scenario",
    "Simulation",
    "SpinLock",
    "Summary",
    "SweepResult",
    "TTASLock",
    "Tasklet",
    "TaskletDesign",
    "TicketLock",
    "Topology",
    "Trace",
    "TraceMeta",
    "TraceRecorder",
    "TraceSource",
    "TransferCosts",
    "VcpuInfo",
    "VcpuTime",
    "__version__",
    "add_idle_guests",
    "build_machine",
    "check_trace",
    "chrome_trace_events",
    "compare",
    "compiled_modules",
    "contention_stats",
    "design_names",
    "device_arrivals",
    "document",
    "export_xentrace",
    "format_compare",
    "format_comparison",
    "format_lock_stat",
    "format_xenlockprof",
    "get_design",
    "get_scenario",
    "import_ftrace",
    "import_xentrace",
    "irq_latency",
    "latency_histogram",
    "lock_stats",
    "make_lock",
    "measure",
    "register_design",
    "register_scenario",
    "run",
    "run_json",
    "run_spec",
    "save_chrome_trace",
    "scenario_designs",
    "scenario_names",
    "sweep",
    "tick_arrivals",
    "vcpu_times",
]
