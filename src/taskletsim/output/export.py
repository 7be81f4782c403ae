"""Export a trace for Perfetto / chrome://tracing (Chrome Trace Event JSON).

One process per physical CPU, with four threads: ``hypervisor`` (hard IRQs,
softirqs, tasklets as nested slices; guest mode as ``guest vCPU`` slices),
``lock spin`` (contended acquisitions, ``LOCK_CONTEND`` to ``LOCK_ACQUIRE``),
``lock hold`` (acquisition to release) and ``interrupts`` (each raise and each
vIRQ injection, a zero-length slice). Softirq raises, tasklet schedules and
runstate changes are instant events on ``hypervisor``.

Flow arrows follow every interrupt from its raise to its handler, the run of
the tasklet it scheduled and the injection of its vIRQ, on whichever CPUs
those happen (:func:`taskletsim.metrics.latency.irq_chains` finds them, as the
latency metric does). Counter tracks: ``tasklets queued`` on each CPU (a
tasklet counts on the CPU that runs it, from its schedule to its run) and,
under the ``locks`` process, ``spinners LOCK`` (CPUs spinning on the lock).

A trace imported from a real machine has no raises: its slices and counters are
shown, without flows. Times are in microseconds, as the format wants: every
timestamp is a trace event's time. Reads the trace only. A file name ending in ``.gz`` is written
gzipped (Perfetto opens it as it is).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..core.events import EventKind
from ..core.source import trace_source
from ..core.trace import Trace
from ..metrics.latency import irq_chains

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
    EventKind.IRQ_COALESCE,
    EventKind.SOFTIRQ_RAISE,
    EventKind.TASKLET_SCHEDULE,
    EventKind.RUNSTATE_CHANGE,
}
_MARK = {EventKind.IRQ_RAISE: "raise", EventKind.VIRQ_INJECT: "inject"}
_RUNSTATES = ("running", "runnable", "blocked", "offline")
HYPERVISOR, SPIN, HOLD, INTERRUPTS = 0, 1, 2, 3
THREADS = (
    (HYPERVISOR, "hypervisor"),
    (SPIN, "lock spin"),
    (HOLD, "lock hold"),
    (INTERRUPTS, "interrupts"),
)


def _us(t_ns: int) -> float:
    return t_ns / 1000.0


def chrome_trace_events(
    trace: Trace, *, flows: bool = True, counters: bool = True
) -> list[dict[str, Any]]:
    """The trace as a list of Chrome trace events (see the module doc)."""
    softirqs = trace.meta.softirqs
    names = trace.names

    def label(kind: EventKind, subject: int) -> str:
        if kind in (EventKind.SOFTIRQ_RAISE, EventKind.SOFTIRQ_ENTRY, EventKind.SOFTIRQ_EXIT):
            return softirqs[subject] if subject < len(softirqs) else f"softirq {subject}"
        space = _SPACE.get(kind)
        return names.name(space, subject) if space else str(subject)

    cpus = np.unique(trace.cpu).tolist()
    out: list[dict[str, Any]] = []
    for cpu in cpus:
        out.append({"ph": "M", "name": "process_name", "pid": cpu, "args": {"name": f"CPU {cpu}"}})
        out.append(
            {"ph": "M", "name": "process_sort_index", "pid": cpu, "args": {"sort_index": cpu}}
        )
        for tid, thread in THREADS:
            out.append(
                {"ph": "M", "name": "thread_name", "pid": cpu, "tid": tid, "args": {"name": thread}}
            )
    held: dict[int, tuple[int, int]] = {}
    in_guest: dict[int, int] = {}
    for t_ns, cpu_, kind_, subject_, arg_ in zip(
        trace.time_ns.tolist(),
        trace.cpu.tolist(),
        trace.kind.tolist(),
        trace.subject.tolist(),
        trace.arg.tolist(),
        strict=True,
    ):
        kind = EventKind(kind_)
        ts = _us(t_ns)
        if kind in _BEGIN or kind in _END:
            out.append(
                {
                    "pid": cpu_,
                    "tid": HYPERVISOR,
                    "ts": ts,
                    "ph": "B" if kind in _BEGIN else "E",
                    "name": label(kind, subject_),
                }
            )
        elif kind in _MARK:
            out.append(
                {
                    "pid": cpu_,
                    "tid": INTERRUPTS,
                    "ts": ts,
                    "ph": "X",
                    "dur": 0,
                    "name": f"{_MARK[kind]} {label(kind, subject_)}",
                    "args": {"seq": arg_} if kind == EventKind.IRQ_RAISE else {},
                }
            )
        elif kind in _INSTANT:
            name = label(kind, subject_)
            if kind == EventKind.RUNSTATE_CHANGE:
                name += f" -> {_RUNSTATES[arg_]}"
            out.append(
                {
                    "pid": cpu_,
                    "tid": HYPERVISOR,
                    "ts": ts,
                    "ph": "i",
                    "s": "t",
                    "name": f"{kind.name.lower()} {name}",
                }
            )
        elif kind == EventKind.VM_ENTRY:
            in_guest[cpu_] = t_ns
        elif kind == EventKind.VM_EXIT and cpu_ in in_guest:
            start = in_guest.pop(cpu_)
            out.append(
                {
                    "pid": cpu_,
                    "tid": HYPERVISOR,
                    "ph": "X",
                    "ts": _us(start),
                    "dur": _us(t_ns - start),
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
                        "ts": _us(arg_),
                        "dur": _us(t_ns - arg_),
                        "name": f"spin {name}",
                    }
                )
            held[subject_] = (cpu_, t_ns)
        elif kind == EventKind.LOCK_RELEASE and subject_ in held:
            owner, start = held.pop(subject_)
            out.append(
                {
                    "pid": owner,
                    "tid": HOLD,
                    "ph": "X",
                    "ts": _us(start),
                    "dur": _us(t_ns - start),
                    "name": label(kind, subject_),
                }
            )
    if flows and _has_raises(trace):
        out += flow_events(trace)
    if counters:
        out += counter_events(trace, locks_pid=(max(cpus) + 1) if cpus else 0)
    return out


def _has_raises(trace: Trace) -> bool:
    """Whether the trace's source records interrupts' raises, which flows start from (a
    real capture does not: its slices are shown, without flows)."""
    source = trace_source(trace.meta.source)
    return source is None or source.covers(EventKind.IRQ_RAISE)


def flow_events(trace: Trace) -> list[dict[str, Any]]:
    """One flow per interrupt that reached at least its handler: raise -> handler ->
    tasklet run -> vIRQ injection (the stages it reached), each step bound to the
    slice it happens in."""
    chains = irq_chains(trace, 0, None, kinds=None)
    time, cpu = trace.time_ns, trace.cpu
    sources = trace.meta.irq
    out: list[dict[str, Any]] = []
    stages = np.stack([chains.raise_row, chains.handler, chains.tasklet, chains.virq], axis=1)
    tids = (INTERRUPTS, HYPERVISOR, HYPERVISOR, INTERRUPTS)
    for flow_id, (rows, source) in enumerate(
        zip(stages.tolist(), chains.source.tolist(), strict=True)
    ):
        steps = [(row, tid) for row, tid in zip(rows, tids, strict=True) if row >= 0]
        if len(steps) < 2:
            continue
        name = sources[source].name
        for k, (row, tid) in enumerate(steps):
            phase = "s" if k == 0 else ("f" if k == len(steps) - 1 else "t")
            out.append(
                {
                    "ph": phase,
                    "id": flow_id,
                    "cat": "irq",
                    "name": name,
                    "pid": int(cpu[row]),
                    "tid": tid,
                    "ts": _us(int(time[row])),
                    "bp": "e",
                }
            )
    return out


def counter_events(trace: Trace, locks_pid: int) -> list[dict[str, Any]]:
    """``spinners LOCK`` under a ``locks`` process and ``tasklets queued`` per CPU."""
    out: list[dict[str, Any]] = [
        {"ph": "M", "name": "process_name", "pid": locks_pid, "args": {"name": "locks"}}
    ]
    time, kind, subject, arg, cpu = trace.time_ns, trace.kind, trace.subject, trace.arg, trace.cpu
    contend = trace.rows(EventKind.LOCK_CONTEND)
    acquired = trace.rows(EventKind.LOCK_ACQUIRE)
    acquired = acquired[arg[acquired] >= 0]
    rows = np.sort(np.concatenate([contend, acquired]))
    step = np.where(kind[rows] == EventKind.LOCK_CONTEND, 1, -1)
    lock_names = trace.names.names("lock")
    for lock in np.unique(subject[rows]).tolist():
        mine = subject[rows] == lock
        values = np.cumsum(step[mine])
        for t, n in zip(time[rows[mine]].tolist(), values.tolist(), strict=True):
            out.append(
                {
                    "ph": "C",
                    "pid": locks_pid,
                    "name": f"spinners {lock_names[lock]}",
                    "ts": _us(t),
                    "args": {"spinners": n},
                }
            )
    changes: list[tuple[int, int, int, int]] = []  # (row, time, cpu, +1/-1)
    queued: dict[int, int] = {}  # tasklet -> row of the schedule that queued it
    scheduled = trace.rows(EventKind.TASKLET_SCHEDULE)
    entered = trace.rows(EventKind.TASKLET_ENTRY)
    for row in np.sort(np.concatenate([scheduled, entered])).tolist():
        tasklet = int(subject[row])
        if kind[row] == EventKind.TASKLET_SCHEDULE:
            queued.setdefault(tasklet, row)
        elif tasklet in queued:
            start = queued.pop(tasklet)
            runner = int(cpu[row])
            changes += [(start, int(time[start]), runner, 1), (row, int(time[row]), runner, -1)]
    for start in queued.values():  # still queued at the end: on the CPU that queued it
        changes.append((start, int(time[start]), int(cpu[start]), 1))
    changes.sort()
    level: dict[int, int] = {}
    for _, t, where, delta in changes:
        level[where] = level.get(where, 0) + delta
        out.append(
            {
                "ph": "C",
                "pid": where,
                "name": "tasklets queued",
                "ts": _us(t),
                "args": {"queued": level[where]},
            }
        )
    return out


def _source_data(trace: Trace) -> dict[str, str]:
    """An imported trace's tool and file, for the viewer's metadata."""
    source = trace_source(trace.meta.source)
    return {} if source is None else {"source": f"{source.tool} {source.file}"}


def save_chrome_trace(trace: Trace, path: str | Path) -> None:
    """Write the trace as a Chrome Trace Event JSON file (open it in ui.perfetto.dev);
    gzipped if the name ends in ``.gz``."""
    doc = {
        "traceEvents": chrome_trace_events(trace),
        "displayTimeUnit": "ns",
        "otherData": {
            **{k: str(getattr(trace.meta, k)) for k in ("scenario", "design", "seed")},
            **_source_data(trace),
        },
    }
    text = json.dumps(doc, separators=(",", ":"))
    target = Path(path)
    if target.suffix == ".gz":
        with open(target, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write(text.encode())
    else:
        target.write_text(text)
