"""Export a trace for Perfetto / chrome://tracing (Chrome Trace Event JSON).

One process per physical CPU, with three threads: ``hypervisor`` (hard IRQs,
softirqs, tasklets as nested slices; guest mode as ``guest vCPU`` slices),
``lock spin`` (contended acquisitions, ``LOCK_CONTEND`` to ``LOCK_ACQUIRE``)
and ``lock hold`` (acquisition to release). Interrupt raises, softirq raises,
tasklet schedules, vIRQ injections and runstate changes are instant events.
Times are in microseconds, as the format wants. Reads the trace only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..core.trace import EventKind, Trace

_SPACE = {
    EventKind.IRQ_RAISE: "irq",
    EventKind.IRQ_COALESCE: "irq",
    EventKind.IRQ_ENTRY: "irq",
    EventKind.IRQ_EXIT: "irq",
    EventKind.TASKLET_SCHEDULE: "tasklet",
    EventKind.TASKLET_ENTRY: "tasklet",
    EventKind.TASKLET_EXIT: "tasklet",
    EventKind.LOCK_CONTEND: "lock",
    EventKind.LOCK_ACQUIRE: "lock",
    EventKind.LOCK_RELEASE: "lock",
    EventKind.RUNSTATE_CHANGE: "vcpu",
    EventKind.VM_ENTRY: "vcpu",
    EventKind.VM_EXIT: "vcpu",
    EventKind.VIRQ_INJECT: "irq",
}
_BEGIN = {EventKind.IRQ_ENTRY, EventKind.SOFTIRQ_ENTRY, EventKind.TASKLET_ENTRY}
_END = {EventKind.IRQ_EXIT, EventKind.SOFTIRQ_EXIT, EventKind.TASKLET_EXIT}
_INSTANT = {
    EventKind.IRQ_RAISE,
    EventKind.IRQ_COALESCE,
    EventKind.SOFTIRQ_RAISE,
    EventKind.TASKLET_SCHEDULE,
    EventKind.VIRQ_INJECT,
    EventKind.RUNSTATE_CHANGE,
}
_RUNSTATES = ("running", "runnable", "blocked", "offline")
HYPERVISOR, SPIN, HOLD = 0, 1, 2


def chrome_trace_events(trace: Trace) -> list[dict[str, Any]]:
    """The trace as a list of Chrome trace events."""
    softirqs = trace.meta.softirqs
    names = trace.names

    def label(kind: EventKind, subject: int) -> str:
        if kind in (EventKind.SOFTIRQ_RAISE, EventKind.SOFTIRQ_ENTRY, EventKind.SOFTIRQ_EXIT):
            return softirqs[subject] if subject < len(softirqs) else f"softirq {subject}"
        space = _SPACE.get(kind)
        return names.name(space, subject) if space else str(subject)

    out: list[dict[str, Any]] = []
    for cpu in np.unique(trace.cpu).tolist():
        out.append({"ph": "M", "name": "process_name", "pid": cpu, "args": {"name": f"CPU {cpu}"}})
        for tid, thread in ((HYPERVISOR, "hypervisor"), (SPIN, "lock spin"), (HOLD, "lock hold")):
            out.append(
                {"ph": "M", "name": "thread_name", "pid": cpu, "tid": tid, "args": {"name": thread}}
            )
    held: dict[int, tuple[int, float]] = {}
    in_guest: dict[int, float] = {}
    for t_ns, cpu_, kind_, subject_, arg_ in zip(
        trace.time_ns.tolist(),
        trace.cpu.tolist(),
        trace.kind.tolist(),
        trace.subject.tolist(),
        trace.arg.tolist(),
        strict=True,
    ):
        kind = EventKind(kind_)
        ts = t_ns / 1000.0
        base = {"pid": cpu_, "ts": ts}
        if kind in _BEGIN or kind in _END:
            out.append(
                {
                    **base,
                    "tid": HYPERVISOR,
                    "ph": "B" if kind in _BEGIN else "E",
                    "name": label(kind, subject_),
                }
            )
        elif kind in _INSTANT:
            name = label(kind, subject_)
            if kind == EventKind.RUNSTATE_CHANGE:
                name += f" -> {_RUNSTATES[arg_]}"
            out.append(
                {
                    **base,
                    "tid": HYPERVISOR,
                    "ph": "i",
                    "s": "t",
                    "name": f"{kind.name.lower()} {name}",
                }
            )
        elif kind == EventKind.VM_ENTRY:
            in_guest[cpu_] = ts
        elif kind == EventKind.VM_EXIT and cpu_ in in_guest:
            start = in_guest.pop(cpu_)
            out.append(
                {
                    "pid": cpu_,
                    "tid": HYPERVISOR,
                    "ph": "X",
                    "ts": start,
                    "dur": ts - start,
                    "name": f"guest {label(kind, subject_)}",
                    "args": {"exit": arg_},
                }
            )
        elif kind == EventKind.LOCK_ACQUIRE:
            name = label(kind, subject_)
            if arg_ >= 0:
                out.append(
                    {
                        "pid": cpu_,
                        "tid": SPIN,
                        "ph": "X",
                        "ts": arg_ / 1000.0,
                        "dur": ts - arg_ / 1000.0,
                        "name": f"spin {name}",
                    }
                )
            held[subject_] = (cpu_, ts)
        elif kind == EventKind.LOCK_RELEASE and subject_ in held:
            owner, start = held.pop(subject_)
            out.append(
                {
                    "pid": owner,
                    "tid": HOLD,
                    "ph": "X",
                    "ts": start,
                    "dur": ts - start,
                    "name": label(kind, subject_),
                }
            )
    return out


def save_chrome_trace(trace: Trace, path: str | Path) -> None:
    """Write the trace as a Chrome Trace Event JSON file (open it in ui.perfetto.dev)."""
    doc = {
        "traceEvents": chrome_trace_events(trace),
        "displayTimeUnit": "ns",
        "otherData": {k: str(getattr(trace.meta, k)) for k in ("scenario", "design", "seed")},
    }
    Path(path).write_text(json.dumps(doc))
