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


def _runs_were_scheduled(trace: Trace, drained: bool) -> None:
    """Each run of a tasklet had a schedule since its previous run began; with
    ``drained``, no schedule comes after the last run. Vectorised over all tasklets."""
    rows = trace.of_kinds(EventKind.TASKLET_SCHEDULE, EventKind.TASKLET_ENTRY)
    rows = rows[np.argsort(trace.subject[rows], kind="stable")]
    n = len(rows)
    if not n:
        return
    subject = trace.subject[rows]
    is_entry = trace.kind[rows] == EventKind.TASKLET_ENTRY
    index = np.arange(n)
    group_start = np.maximum.accumulate(
        np.where(np.r_[True, subject[1:] != subject[:-1]], index, 0)
    )
    last_entry = np.maximum.accumulate(np.where(is_entry, index, -1))
    prev_entry = np.r_[-1, last_entry[:-1]]
    since = np.where(prev_entry >= group_start, prev_entry + 1, group_start)
    scheds_before = np.r_[0, np.cumsum(~is_entry)]  # schedules among the first k rows
    unscheduled = is_entry & (scheds_before[index] - scheds_before[since] == 0)
    if unscheduled.any():
        row = rows[np.argmax(unscheduled)]
        raise InvariantError(
            f"tasklet {int(trace.subject[row])} ran at {int(trace.time_ns[row])} ns unscheduled"
        )
    if drained:
        group_end = np.r_[np.flatnonzero(subject[1:] != subject[:-1]), n - 1]
        lost = ~is_entry[group_end]  # the group's last event is a schedule
        if lost.any():
            row = rows[group_end[np.argmax(lost)]]
            raise InvariantError(
                f"tasklet {int(trace.subject[row])} scheduled at {int(trace.time_ns[row])} ns "
                "never ran"
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
    _runs_were_scheduled(trace, drained)
    if trace.meta.duration_ns is not None:
        for name, t in vcpu_times(trace).items():
            total = t.running_ns + t.runnable_ns + t.blocked_ns + t.offline_ns
            if total != t.window_ns:
                raise InvariantError(f"vCPU {name}: runstates add up to {total}, not {t.window_ns}")
