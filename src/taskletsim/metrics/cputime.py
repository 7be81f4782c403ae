"""Where a Linux host's CPU time goes: hard IRQs, softirqs, tasks, and what interrupts take
from the tasks they interrupt, as ``/proc/stat`` and ``CONFIG_IRQ_TIME_ACCOUNTING`` show it.

- **Per CPU**: hard-IRQ time (``IRQ_ENTRY`` to ``IRQ_EXIT``) and softirq time
  (``SOFTIRQ_ENTRY`` to ``SOFTIRQ_EXIT``, less the hard IRQs inside it), the
  ``irq`` and ``softirq`` columns of ``/proc/stat``; of the softirq time, the
  part run by ``ksoftirqd`` (which Linux accounts to that thread's runtime and
  then to the ``softirq`` column at the tick).
- **Per task**: the hard-IRQ and softirq time taken while it was running on
  its CPU: what ``irqtime_account_irq`` removes from its runtime.
- **``ksoftirqd`` hand-overs**: the times a ``ksoftirqd`` thread was woken
  (blocked -> runnable), each a ``__do_softirq`` that left work behind or a
  softirq raised outside interrupt context.

Tasks are the trace's runstate subjects (``vcpu`` names) whose
``meta.vcpus`` class is their kind (``ksoftirqd`` for the softirq threads).
Intervals are clipped to the window ``[start, end)``. :func:`cpu_times` reads
a trace; :class:`CpuTimeTracker` the events as they come (the batch function
feeds the tracker, so both agree by construction).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..core.events import EventKind
from ..core.trace import NameTable, Trace, TraceMeta
from .common import Rows, needs, window_bounds

_IRQ_IN, _IRQ_OUT = int(EventKind.IRQ_ENTRY), int(EventKind.IRQ_EXIT)
_SOFT_IN, _SOFT_OUT = int(EventKind.SOFTIRQ_ENTRY), int(EventKind.SOFTIRQ_EXIT)
_RUNSTATE = int(EventKind.RUNSTATE_CHANGE)
_RUNNING, _RUNNABLE, _BLOCKED = 0, 1, 2


@dataclass(frozen=True)
class CpuTimes:
    """A host's time accounting over a window of ``window_ns`` on each CPU."""

    window_ns: int
    hardirq_ns: tuple[int, ...]
    """Per CPU, hard-IRQ time (``/proc/stat`` ``irq``)."""
    softirq_ns: tuple[int, ...]
    """Per CPU, softirq time, wherever it ran (``/proc/stat`` ``softirq``)."""
    softirq_in_ksoftirqd_ns: int
    """The part of all CPUs' softirq time run by ``ksoftirqd`` threads."""
    task_irq_ns: dict[str, int] = field(default_factory=dict)
    """Per task, hard-IRQ time taken while it ran."""
    task_softirq_ns: dict[str, int] = field(default_factory=dict)
    """Per task, softirq time taken while it ran (for ``ksoftirqd``: what it ran)."""
    ksoftirqd_wakeups: int = 0
    """``ksoftirqd`` threads woken (blocked -> runnable) in the window."""

    @property
    def cpu_ns(self) -> int:
        """The CPU time the window holds: its length on every CPU."""
        return self.window_ns * len(self.hardirq_ns)

    @property
    def hardirq_pct(self) -> float:
        """Hard-IRQ share of all CPU time."""
        return 100.0 * sum(self.hardirq_ns) / self.cpu_ns if self.cpu_ns else 0.0

    @property
    def softirq_pct(self) -> float:
        """Softirq share of all CPU time."""
        return 100.0 * sum(self.softirq_ns) / self.cpu_ns if self.cpu_ns else 0.0

    @property
    def ksoftirqd_softirq_pct(self) -> float:
        """Share of the softirq time run by ``ksoftirqd`` rather than at interrupt exit."""
        total = sum(self.softirq_ns)
        return 100.0 * self.softirq_in_ksoftirqd_ns / total if total else 0.0


class CpuTimeTracker:
    """:func:`cpu_times` as the events come (a :class:`~taskletsim.metrics.common.Tracker`)."""

    KINDS: ClassVar[tuple[EventKind, ...]] = (
        EventKind.IRQ_ENTRY,
        EventKind.IRQ_EXIT,
        EventKind.SOFTIRQ_ENTRY,
        EventKind.SOFTIRQ_EXIT,
        EventKind.RUNSTATE_CHANGE,
    )

    def __init__(self, start: int, end: int, ncpus: int) -> None:
        self.start, self.end = start, end
        self.hardirq = [0] * ncpus
        self.softirq = [0] * ncpus
        self._irq_at: list[int | None] = [None] * ncpus
        self._soft_at: list[int | None] = [None] * ncpus
        self._irq_in_soft = [0] * ncpus  # clipped hard-IRQ time inside the open softirq
        self._current = [-1] * ncpus  # the task running on each CPU
        self._state: dict[int, int] = {}
        self.task_irq: dict[int, int] = {}
        self.task_softirq: dict[int, int] = {}
        self.wakeups: dict[int, int] = {}

    def _clip(self, a: int, b: int) -> int:
        return max(0, min(b, self.end) - max(a, self.start))

    def consume(self, rows: Rows) -> None:
        start, end = self.start, self.end
        for t, cpu, k, subject, arg in zip(*rows, strict=True):
            if k == _IRQ_IN:
                self._irq_at[cpu] = t
            elif k == _IRQ_OUT:
                began = self._irq_at[cpu]
                if began is None:
                    continue
                self._irq_at[cpu] = None
                ns = self._clip(began, t)
                self.hardirq[cpu] += ns
                if self._soft_at[cpu] is not None:
                    self._irq_in_soft[cpu] += ns
                task = self._current[cpu]
                if task >= 0 and ns:
                    self.task_irq[task] = self.task_irq.get(task, 0) + ns
            elif k == _SOFT_IN:
                self._soft_at[cpu] = t
                self._irq_in_soft[cpu] = 0
            elif k == _SOFT_OUT:
                began = self._soft_at[cpu]
                if began is None:
                    continue
                self._soft_at[cpu] = None
                ns = self._clip(began, t) - self._irq_in_soft[cpu]
                self.softirq[cpu] += ns
                task = self._current[cpu]
                if task >= 0 and ns:
                    self.task_softirq[task] = self.task_softirq.get(task, 0) + ns
            else:  # RUNSTATE_CHANGE: subject the task, arg its new state, cpu where
                before = self._state.get(subject, -1)
                self._state[subject] = arg
                if arg == _RUNNING:
                    self._current[cpu] = subject
                elif self._current[cpu] == subject:
                    self._current[cpu] = -1
                if arg == _RUNNABLE and before == _BLOCKED and start <= t < end:
                    self.wakeups[subject] = self.wakeups.get(subject, 0) + 1

    def cpu_times(self, names: NameTable, meta: TraceMeta) -> CpuTimes:
        """The accounting gathered (what :func:`cpu_times` gives); ``meta.vcpus`` tells
        which tasks are ``ksoftirqd``."""
        tasks = names.names("vcpu")
        softirqd = {
            i
            for i, n in enumerate(tasks)
            if n in meta.vcpus and meta.vcpus[n].workload == "ksoftirqd"
        }
        return CpuTimes(
            window_ns=max(0, self.end - self.start),
            hardirq_ns=tuple(self.hardirq),
            softirq_ns=tuple(self.softirq),
            softirq_in_ksoftirqd_ns=sum(ns for i, ns in self.task_softirq.items() if i in softirqd),
            task_irq_ns={tasks[i]: ns for i, ns in sorted(self.task_irq.items())},
            task_softirq_ns={tasks[i]: ns for i, ns in sorted(self.task_softirq.items())},
            ksoftirqd_wakeups=sum(n for i, n in self.wakeups.items() if i in softirqd),
        )


def cpu_times(trace: Trace, start_ns: int | None = None, end_ns: int | None = None) -> CpuTimes:
    """The time accounting of ``trace`` over ``[start_ns, end_ns)`` (see the module doc)."""
    needs(trace, "cpu_times", *CpuTimeTracker.KINDS)
    start, end = window_bounds(trace, start_ns, end_ns)
    ncpus = len(trace.meta.cpu_socket) or int(trace.cpu.max(initial=-1)) + 1
    tracker = CpuTimeTracker(start, end, ncpus)
    mask = np.isin(trace.kind, [int(k) for k in CpuTimeTracker.KINDS])
    cols = (trace.time_ns, trace.cpu, trace.kind, trace.subject, trace.arg)
    rows: Rows = tuple(c[mask].tolist() for c in cols)
    tracker.consume(rows)
    return tracker.cpu_times(trace.names, trace.meta)
