"""Invariants every valid trace satisfies, checked from the trace alone.

- time never goes back on a CPU;
- a lock never has two holders (acquisitions and releases alternate, and the
  releaser is the holder);
- a tasklet never runs on two CPUs at once (entries and exits alternate);
- every run of a tasklet was scheduled since its previous run, and (with
  ``drained=True``, for a run that ended quiet) every schedule was followed
  by a run: nothing scheduled is lost;
- every guest vCPU's four runstate times add up to the run's duration.
"""

from __future__ import annotations

import numpy as np

from ..core.trace import EventKind, Trace
from .runstates import vcpu_times


class InvariantError(AssertionError):
    """A trace breaks an invariant; the message says which and where."""


def _pairs_alternate(trace: Trace, first: EventKind, second: EventKind, what: str) -> None:
    rows = trace.of_kinds(first, second)
    order = np.argsort(trace.subject[rows], kind="stable")
    rows = rows[order]
    subject = trace.subject[rows]
    kind = trace.kind[rows]
    starts = np.flatnonzero(np.r_[True, subject[1:] != subject[:-1]])
    position = np.arange(len(rows)) - np.repeat(starts, np.diff(np.r_[starts, len(rows)]))
    expected = np.where(position % 2 == 0, int(first), int(second))
    bad = np.flatnonzero(kind != expected)
    if len(bad):
        row = rows[bad[0]]
        raise InvariantError(
            f"{what} {int(trace.subject[row])}: {EventKind(int(trace.kind[row])).name} at "
            f"{int(trace.time_ns[row])} ns on CPU {int(trace.cpu[row])} out of turn"
        )
    pair_first = (position % 2 == 0) & (np.r_[position[1:], 0] == position + 1)
    a = rows[pair_first]
    b = rows[np.flatnonzero(pair_first) + 1]
    wrong = np.flatnonzero(trace.cpu[a] != trace.cpu[b])
    if len(wrong):
        row = b[wrong[0]]
        raise InvariantError(
            f"{what} {int(trace.subject[row])}: ended on CPU {int(trace.cpu[row])} "
            f"at {int(trace.time_ns[row])} ns, begun on CPU {int(trace.cpu[a[wrong[0]]])}"
        )


def check_trace(trace: Trace, drained: bool = False) -> None:
    """Raise :class:`InvariantError` if ``trace`` breaks an invariant."""
    order = np.argsort(trace.cpu, kind="stable")
    cpu, time = trace.cpu[order], trace.time_ns[order]
    back = np.flatnonzero((cpu[1:] == cpu[:-1]) & (time[1:] < time[:-1]))
    if len(back):
        raise InvariantError(f"time goes back on CPU {int(cpu[back[0]])} at {int(time[back[0]])}")
    _pairs_alternate(trace, EventKind.LOCK_ACQUIRE, EventKind.LOCK_RELEASE, "lock")
    _pairs_alternate(trace, EventKind.TASKLET_ENTRY, EventKind.TASKLET_EXIT, "tasklet")
    scheds = np.flatnonzero(trace.kind == EventKind.TASKLET_SCHEDULE)
    entries = np.flatnonzero(trace.kind == EventKind.TASKLET_ENTRY)
    for tasklet in np.unique(np.r_[trace.subject[scheds], trace.subject[entries]]):
        s = scheds[trace.subject[scheds] == tasklet]
        e = entries[trace.subject[entries] == tasklet]
        # Each run needs a schedule after the previous run began.
        if len(e) and not len(s):
            unscheduled = np.ones(len(e), dtype=bool)
        else:
            first_sched = np.searchsorted(s, np.r_[-1, e[:-1]], side="right")
            late = s[np.minimum(first_sched, len(s) - 1)] > e
            unscheduled = (first_sched >= len(s)) | late
        if unscheduled.any():
            row = e[np.argmax(unscheduled)]
            raise InvariantError(
                f"tasklet {int(tasklet)} ran at {int(trace.time_ns[row])} ns unscheduled"
            )
        if drained and len(s) and (not len(e) or s[-1] > e[-1]):
            raise InvariantError(
                f"tasklet {int(tasklet)} scheduled at {int(trace.time_ns[s[-1]])} ns never ran"
            )
    if "duration_ns" in trace.meta:
        for name, t in vcpu_times(trace).items():
            total = t.running_ns + t.runnable_ns + t.blocked_ns + t.offline_ns
            if total != t.window_ns:
                raise InvariantError(f"vCPU {name}: runstates add up to {total}, not {t.window_ns}")
