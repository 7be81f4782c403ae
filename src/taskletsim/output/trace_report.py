"""What one trace shows, within what its source covers: ``taskletsim report`` and the
summary ``taskletsim import`` prints.

:func:`trace_report` gathers, for a saved simulation or an imported capture,
every measurement whose event kinds the trace's source can record, and names
the ones it cannot; :func:`format_trace_report` prints it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.events import EventKind
from ..core.source import trace_source
from ..core.trace import Trace
from ..metrics.common import is_linux_host
from ..metrics.cputime import CpuTimeTracker, cpu_times
from ..metrics.entry_latency import irq_latency_from_entry
from ..metrics.latency import Latency
from ..metrics.locks import contention_stats, lock_stats
from ..metrics.runstates import vcpu_times

SECTIONS = {
    "vcpus": ((EventKind.RUNSTATE_CHANGE, EventKind.VM_ENTRY, EventKind.VM_EXIT), "runstates"),
    "irqs": ((EventKind.IRQ_ENTRY,), "handler entries per IRQ source"),
    "latency_from_entry": ((EventKind.IRQ_ENTRY, EventKind.IRQ_EXIT), "latency from entry"),
    "softirq_ns": ((EventKind.SOFTIRQ_ENTRY, EventKind.SOFTIRQ_EXIT), "time in softirqs"),
    "contention": ((EventKind.LOCK_CONTEND, EventKind.LOCK_ACQUIRE), "lock contention"),
    "locks": (
        (EventKind.LOCK_CONTEND, EventKind.LOCK_ACQUIRE, EventKind.LOCK_RELEASE),
        "lock hold times (lock_stat)",
    ),
    "cpu": (CpuTimeTracker.KINDS, "CPU time accounting (a Linux host's /proc/stat)"),
}
"""Each section of the report, the event kinds it needs and what it is called."""


def trace_report(trace: Trace) -> dict[str, Any]:
    """Every section the trace's source covers (JSON-able), and ``not_covered``: the
    sections it cannot show, with the kinds missing."""
    source = trace_source(trace.meta.source)
    span = trace.meta.duration_ns or (int(trace.time_ns[-1]) + 1 if len(trace) else 0)
    doc: dict[str, Any] = {
        "source": None if source is None else {"tool": source.tool, "file": source.file},
        "host": "linux" if is_linux_host(trace.meta) else "xen",
        "scenario": trace.meta.scenario,
        "design": trace.meta.design,
        "seed": trace.meta.seed,
        "span_ns": span,
        "cpus": trace.meta.topology.get("cpus", 0),
        "events": len(trace),
        "not_covered": {},
    }
    linux = doc["host"] == "linux"
    for section, (kinds, _title) in SECTIONS.items():
        if section == "vcpus" and linux:  # a Linux host's tasks: runstates without VM events
            kinds = (EventKind.RUNSTATE_CHANGE,)
        if section == "cpu" and not linux:
            continue
        missing = [k.name for k in kinds if source is not None and not source.covers(k)]
        if missing:
            doc["not_covered"][section] = missing
            continue
        doc[section] = _MEASURE[section](trace)
    return doc


def _vcpus(trace: Trace) -> dict[str, Any]:
    return {name: vt.as_dict() for name, vt in vcpu_times(trace).items()}


def _irqs(trace: Trace) -> dict[str, int]:
    entries = trace.rows(EventKind.IRQ_ENTRY)
    counts = np.bincount(trace.subject[entries], minlength=len(trace.meta.irq))
    names = [info.name for info in trace.meta.irq]
    return {names[s]: int(n) for s, n in enumerate(counts.tolist()) if n and s < len(names)}


def _latency(trace: Trace) -> dict[str, dict[str, dict[str, float | int]]]:
    samples = irq_latency_from_entry(trace, kinds=None)
    return {
        source: {stage: Latency.of(v).as_dict() for stage, v in stages.items() if len(v)}
        for source, stages in samples.items()
        if any(len(v) for v in stages.values())
    }


def _softirq_ns(trace: Trace) -> dict[str, int]:
    """ns in each softirq: each entry to the exit right after it on its CPU."""
    rows = trace.of_kinds(EventKind.SOFTIRQ_ENTRY, EventKind.SOFTIRQ_EXIT)
    rows = rows[np.argsort(trace.cpu[rows], kind="stable")]
    cpu, t, vec = trace.cpu[rows], trace.time_ns[rows], trace.subject[rows]
    entry = trace.kind[rows] == EventKind.SOFTIRQ_ENTRY
    paired = np.flatnonzero(entry[:-1] & ~entry[1:] & (cpu[1:] == cpu[:-1]))
    total = np.bincount(vec[paired], weights=t[paired + 1] - t[paired])
    names = trace.meta.softirqs
    return {
        names[v] if v < len(names) else str(v): int(ns) for v, ns in enumerate(total.tolist()) if ns
    }


def _contention(trace: Trace) -> dict[str, dict[str, Any]]:
    return {
        name: {"contentions": c.contentions, "wait_ns": c.wait.as_dict()}
        for name, c in sorted(contention_stats(trace).items(), key=lambda kv: -kv[1].wait.total)
    }


def _locks(trace: Trace) -> dict[str, dict[str, Any]]:
    return {
        name: {
            "acquisitions": s.acquisitions,
            "contentions": s.contentions,
            "wait_ns": s.wait.as_dict(),
            "hold_ns": s.hold.as_dict(),
        }
        for name, s in lock_stats(trace).items()
        if s.acquisitions
    }


def _cpu(trace: Trace) -> dict[str, Any]:
    c = cpu_times(trace)
    return {
        "hardirq_pct": c.hardirq_pct,
        "softirq_pct": c.softirq_pct,
        "ksoftirqd_softirq_pct": c.ksoftirqd_softirq_pct,
        "ksoftirqd_wakeups": c.ksoftirqd_wakeups,
    }


_MEASURE = {
    "cpu": _cpu,
    "vcpus": _vcpus,
    "irqs": _irqs,
    "latency_from_entry": _latency,
    "softirq_ns": _softirq_ns,
    "contention": _contention,
    "locks": _locks,
}


def format_trace_report(doc: dict[str, Any], rows: int = 8) -> str:
    """The report as text: each covered section's first ``rows`` lines, then what the
    source cannot show."""
    span_s = max(doc["span_ns"], 1) / 1e9
    cpus = max(doc["cpus"], 1)
    lines: list[str] = []
    if doc.get("vcpus"):
        who = "task" if doc.get("host") == "linux" else "vCPU"
        lines.append(f"{who:<10} running ms  runnable ms  blocked ms  offline ms  steal %")
        for name, v in doc["vcpus"].items():
            lines.append(
                f"{name:<10} {v['running_ns'] / 1e6:10.3f}  {v['runnable_ns'] / 1e6:11.3f}  "
                f"{v['blocked_ns'] / 1e6:10.3f}  {v['offline_ns'] / 1e6:10.3f}  "
                f"{v['steal_pct']:7.3f}"
            )
    if "cpu" in doc:
        c = doc["cpu"]
        lines.append(
            f"  cpu time: hardirq {c['hardirq_pct']:.2f}%, softirq {c['softirq_pct']:.2f}%"
            f" ({c['ksoftirqd_softirq_pct']:.1f}% of it in ksoftirqd, woken"
            f" {c['ksoftirqd_wakeups']} times)"
        )
    for name, n in sorted(doc.get("irqs", {}).items(), key=lambda kv: -kv[1])[:rows]:
        lines.append(f"  irq {name}: {n} handled ({n / span_s:,.0f}/s)")
    for name, stages in list(doc.get("latency_from_entry", {}).items())[:rows]:
        parts = ", ".join(
            f"{stage} p50 {v['p50_ns'] / 1e3:.2f} us p99 {v['p99_ns'] / 1e3:.2f} us"
            f" (n={v['count']})"
            for stage, v in stages.items()
        )
        lines.append(f"  from {name}'s entry: {parts}")
    for name, ns in sorted(doc.get("softirq_ns", {}).items(), key=lambda kv: -kv[1]):
        share = 100 * ns / (span_s * 1e9 * cpus)
        lines.append(f"  softirq {name}: {ns / 1e6:.3f} ms ({share:.2f}% of CPU time)")
    if "locks" in doc:
        for name, s in list(doc["locks"].items())[:rows]:
            lines.append(
                f"  lock {name}: {s['acquisitions']} acquisitions, {s['contentions']} contended,"
                f" hold mean {s['hold_ns']['mean'] / 1e3:.2f} us"
            )
    else:
        for name, c in list(doc.get("contention", {}).items())[:rows]:
            w = c["wait_ns"]
            lines.append(
                f"  lock {name}: {c['contentions']} contended, wait total {w['total'] / 1e3:.1f}"
                f" us, mean {w['mean'] / 1e3:.2f} us, max {w['max'] / 1e3:.1f} us"
            )
    for section, missing in doc["not_covered"].items():
        title = SECTIONS[section][1]
        lines.append(f"  not in this capture: {title} (needs {', '.join(missing)})")
    return "\n".join(lines)
