"""Metrics: pure, vectorised functions of a :class:`~taskletsim.trace.Trace`.

Nothing here imports the model: a saved trace can be analysed without
re-running it. Every function takes an observation window ``[start_ns,
end_ns)``; an event counts when it happens inside it (for a lock, the
acquisition's time decides).

- :mod:`.locks`: per-lock acquisitions, contentions, bounces, wait and hold;
- :mod:`.latency`: interrupt latency per source and stage;
- :mod:`.irqs`: what became of each source's arrivals (raised, merged, polled);
- :mod:`.runstates`: runstate times, steal, hypervisor share of RUNNING;
- :mod:`.steal`: steal and lock time as a guest reads them (``top``, NO_HZ or periodic);
- :mod:`.invariants`: what every valid trace satisfies;
- :mod:`.measure`: all of the above for one window in one record, which
  :mod:`.online` also gathers from the events as a run produces them
  (a metrics-only run, which keeps no trace);
- :mod:`.counts`: samples held as exact counts of their distinct values.
"""

from .common import Summary, window_bounds
from .counts import KeyedCounts, ValueCounts
from .cputime import CpuTimes, CpuTimeTracker, cpu_times
from .invariants import InvariantError, check_trace
from .irqs import IrqCounts, irq_counts
from .latency import (
    PERCENTILES,
    STAGES,
    Latency,
    irq_latency,
    irq_latency_by_kind,
    irq_latency_samples,
    latency_histogram,
)
from .locks import ContentionStats, LockStats, contention_stats, lock_stats
from .measure import LATENCY_KINDS, Measurements, measure
from .online import OnlineMetrics
from .runstates import (
    RUNSTATES,
    IntervalSummary,
    VcpuTime,
    class_times,
    domain_times,
    lock_wait_in_running,
    vcpu_times,
)

__all__ = [
    "LATENCY_KINDS",
    "PERCENTILES",
    "RUNSTATES",
    "STAGES",
    "ContentionStats",
    "CpuTimeTracker",
    "CpuTimes",
    "IntervalSummary",
    "InvariantError",
    "IrqCounts",
    "KeyedCounts",
    "Latency",
    "LockStats",
    "Measurements",
    "OnlineMetrics",
    "Summary",
    "ValueCounts",
    "VcpuTime",
    "check_trace",
    "class_times",
    "contention_stats",
    "cpu_times",
    "domain_times",
    "irq_counts",
    "irq_latency",
    "irq_latency_by_kind",
    "irq_latency_samples",
    "latency_histogram",
    "lock_stats",
    "lock_wait_in_running",
    "measure",
    "vcpu_times",
    "window_bounds",
]
