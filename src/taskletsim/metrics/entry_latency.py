"""Interrupt latency from the handler's entry, on the stages a real capture has too.

No real trace records a device's raise, nor which softirq or tasklet an
interrupt led to; what it has is, per CPU, when handlers ran, when softirqs
were raised and ran, when tasklets ran and when vectors were injected. The
stages here are found from those alone, so that a simulation and a capture of
the same host are measured the same way (``irq_latency(..., origin="entry")``):

- ``softirq``: the first softirq to start on the handler's CPU after the
  handler returns, if the handler raised one on that CPU (``irq_exit`` runs
  pending softirqs, Linux's ``__do_softirq`` and Xen's ``do_softirq``);
- ``tasklet``: the first tasklet to start inside that softirq (a tasklet run
  elsewhere, in Xen 4.4's idle loop say, is not this stage);
- ``virq``: the first vector injected on the handler's CPU after the handler
  started (Xen moves a passthrough IRQ's affinity to its vCPU's pCPU,
  ``hvm_migrate_pirqs``, so that is where its vector is injected).

Each value is the stage's time minus the handler's entry, for the handlers that
started in the window; a stage found across a window whose records the capture
lost is not counted. A stage whose event kind the trace's source cannot record
is left out.
"""

from __future__ import annotations

import numpy as np

from ..core.events import EventKind
from ..core.source import trace_source
from ..core.trace import Trace
from .common import covered_before, excluded_windows, needs, window_bounds

ENTRY_STAGES = ("softirq", "tasklet", "virq")
"""Stages measured from the handler's entry (see the module's docstring)."""

_CPU_SHIFT = 44  # a CPU and a time in one sortable key: times below 2**44 ns (4.9 hours)


def _keys(trace: Trace, kind: EventKind) -> np.ndarray:
    """The (CPU, time) keys of the events of ``kind``, sorted."""
    rows = trace.rows(kind)
    keys: np.ndarray = (trace.cpu[rows].astype(np.int64) << _CPU_SHIFT) + trace.time_ns[rows]
    keys.sort(kind="stable")
    return keys


def _first_at_or_after(keys: np.ndarray, at: np.ndarray) -> np.ndarray:
    """For each key in ``at``, the first of ``keys`` at or after it on the same CPU
    (-1 when there is none)."""
    j = np.searchsorted(keys, at, side="left")
    found = np.where(j < len(keys), keys[np.minimum(j, len(keys) - 1)], -1)
    same_cpu = (found >= 0) & ((found >> _CPU_SHIFT) == (at >> _CPU_SHIFT))
    result: np.ndarray = np.where(same_cpu, found, -1)
    return result


def irq_latency_from_entry(
    trace: Trace,
    start_ns: int | None = None,
    end_ns: int | None = None,
    kinds: tuple[str, ...] | None = ("device", "timer"),
) -> dict[str, dict[str, np.ndarray]]:
    """Per IRQ source (of ``kinds``; ``None``: every source) and stage, the latency (ns)
    from each handler entry in the window to the stage, for those that reached it."""
    needs(trace, "irq_latency (origin entry)", EventKind.IRQ_ENTRY, EventKind.IRQ_EXIT)
    start, end = window_bounds(trace, start_ns, end_ns)
    source = trace_source(trace.meta.source)

    def covered(*wanted: EventKind) -> bool:
        return source is None or all(source.covers(k) for k in wanted)

    entries = trace.rows(EventKind.IRQ_ENTRY)
    t = trace.time_ns[entries]
    entries = entries[(t >= start) & (t < end)]
    sid = trace.subject[entries].astype(np.int64)
    at = (trace.cpu[entries].astype(np.int64) << _CPU_SHIFT) + trace.time_ns[entries]
    exits = _handler_exits(trace, entries)
    stages: dict[str, np.ndarray] = {}
    if covered(EventKind.SOFTIRQ_RAISE, EventKind.SOFTIRQ_ENTRY, EventKind.SOFTIRQ_EXIT):
        raised = _first_at_or_after(_keys(trace, EventKind.SOFTIRQ_RAISE), at)
        raised = np.where((raised >= 0) & (raised <= exits), raised, -1)
        softirq = _first_at_or_after(_keys(trace, EventKind.SOFTIRQ_ENTRY), np.maximum(exits, at))
        softirq = np.where((raised >= 0) & (exits >= 0), softirq, -1)
        stages["softirq"] = softirq
        if covered(EventKind.TASKLET_ENTRY):
            ended = _first_at_or_after(_keys(trace, EventKind.SOFTIRQ_EXIT), softirq)
            tasklet = _first_at_or_after(_keys(trace, EventKind.TASKLET_ENTRY), softirq)
            inside = (softirq >= 0) & (tasklet >= 0) & ((ended < 0) | (tasklet <= ended))
            stages["tasklet"] = np.where(inside, tasklet, -1)
    if covered(EventKind.VIRQ_INJECT):
        stages["virq"] = _first_at_or_after(_keys(trace, EventKind.VIRQ_INJECT), at)
    mask = (np.int64(1) << _CPU_SHIFT) - 1
    last = int(trace.time_ns[-1]) + 1 if len(trace) else 0
    lost_start, lost_end = excluded_windows(trace, 0, last)
    if len(lost_start):  # a stage searched for across lost records is not measured
        origin = at & mask
        for stage, found in stages.items():
            until = np.where(found >= 0, found & mask, origin)
            lost = covered_before(lost_start, lost_end, until)
            lost -= covered_before(lost_start, lost_end, origin)
            stages[stage] = np.where(lost > 0, -1, found)
    result: dict[str, dict[str, np.ndarray]] = {}
    for s, info in enumerate(trace.meta.irq):
        if kinds is not None and info.kind not in kinds:
            continue
        mine = sid == s
        if not mine.any():
            continue
        result[info.name] = {}
        for stage, found in stages.items():
            reached = mine & (found >= 0)
            result[info.name][stage] = (found[reached] & mask) - (at[reached] & mask)
    return result


def _handler_exits(trace: Trace, entries: np.ndarray) -> np.ndarray:
    """The (CPU, time) key of each entry's handler exit: the first ``IRQ_EXIT`` of the
    same source on the same CPU at or after it (-1 when the trace ends first)."""
    exits = trace.rows(EventKind.IRQ_EXIT)
    pair_exit = trace.cpu[exits].astype(np.int64) << 32 | trace.subject[exits]
    pair_entry = trace.cpu[entries].astype(np.int64) << 32 | trace.subject[entries]
    pairs, index = np.unique(np.concatenate([pair_exit, pair_entry]), return_inverse=True)
    dense = index.astype(np.int64) << _CPU_SHIFT  # (CPU, source) pairs number below 2**19
    key = np.sort(dense[: len(exits)] + trace.time_ns[exits], kind="stable")
    at = dense[len(exits) :] + trace.time_ns[entries]
    j = np.searchsorted(key, at, side="left")
    found = np.where(j < len(key), key[np.minimum(j, len(key) - 1)], -1)
    same = (found >= 0) & ((found >> _CPU_SHIFT) == (at >> _CPU_SHIFT))
    mask = (np.int64(1) << _CPU_SHIFT) - 1
    cpu_key = trace.cpu[entries].astype(np.int64) << _CPU_SHIFT
    result: np.ndarray = np.where(same, cpu_key + (found & mask), -1)
    del pairs
    return result
