"""Everything the reports read of one run over one window, gathered in one record.

:func:`measure` computes it from a trace; :class:`~taskletsim.metrics.online.OnlineMetrics`
gathers the same record while a run goes, without keeping the trace. Both
give the same numbers (the tests check it on every design).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from ..core.events import EventKind
from ..core.trace import Trace, TraceMeta
from .common import is_linux_host, window_bounds
from .counts import ValueCounts
from .cputime import CpuTimes, CpuTimeTracker, cpu_times
from .irqs import IrqCounts, irq_counts
from .latency import Latency, irq_latency_split
from .locks import LockStats, lock_stats, lock_wait_histograms
from .runstates import VcpuTime, group_times, lock_wait_in_running, vcpu_times

LATENCY_KINDS = ("device", "timer")
"""The interrupt sources whose latency is measured."""


@dataclass(frozen=True, eq=False)
class Measurements:
    """One run's measurements over the window ``[start_ns, end_ns)``.

    ``latency_counts[source][stage]``: the latency of every interrupt of the
    source raised in the window that went through the stage, as exact value
    counts; ``pending_counts[source][stage]``: for those that had not by the end,
    the time they had waited (what a censored statistic adds). :attr:`latency`
    and :attr:`pending` give the samples themselves, sorted. ``lock_wait[vcpu]``:
    ns the vCPU was RUNNING while its pCPU spun on a lock. ``lock_wait_hist[lock]``: its contended
    acquisitions counted by wait over :data:`~taskletsim.metrics.locks.WAIT_EDGES_NS`.
    ``events``: how many the whole run recorded.
    The samples are held as counts of their distinct values: the record's size
    grows with the distinct latencies (ns), not with the interrupts.
    """

    start_ns: int
    end_ns: int
    events: int
    meta: TraceMeta
    locks: dict[str, LockStats]
    vcpus: dict[str, VcpuTime]
    lock_wait: dict[str, int]
    irqs: dict[str, IrqCounts]
    latency_counts: dict[str, dict[str, ValueCounts]]
    pending_counts: dict[str, dict[str, ValueCounts]]
    lock_wait_hist: dict[str, np.ndarray]
    cpu: CpuTimes | None = None
    """A Linux host's time accounting (:func:`~taskletsim.metrics.cputime.cpu_times`);
    ``None`` for other hosts."""

    @cached_property
    def latency(self) -> dict[str, dict[str, np.ndarray]]:
        """Per source and stage, the latencies of the interrupts that reached it, sorted
        (expanded from the counts the first time it is read)."""
        return _expanded(self.latency_counts)

    @cached_property
    def pending(self) -> dict[str, dict[str, np.ndarray]]:
        """Per source and stage, the waits of those that had not reached it, sorted."""
        return _expanded(self.pending_counts)

    def latency_value_counts(self, censored: bool = False) -> dict[str, dict[str, ValueCounts]]:
        """Per source and stage, as counts; ``censored`` adds the pending interrupts' waits."""
        if not censored:
            return self.latency_counts
        return {
            source: {
                stage: ValueCounts.merged((counts, self.pending_counts[source][stage]))
                for stage, counts in stages.items()
            }
            for source, stages in self.latency_counts.items()
        }

    def latency_samples(self, censored: bool = False) -> dict[str, dict[str, np.ndarray]]:
        """Per source and stage, sorted; ``censored`` adds the pending interrupts' waits."""
        return _expanded(self.latency_value_counts(censored))

    def irq_latency(self, censored: bool = False) -> dict[str, dict[str, Latency]]:
        """:class:`Latency` per source and stage."""
        return {
            source: {stage: Latency.of_counts(counts) for stage, counts in stages.items()}
            for source, stages in self.latency_value_counts(censored).items()
        }

    def latency_by_kind(
        self, censored: bool = False, group: dict[str, str] | None = None
    ) -> dict[str, dict[str, Latency]]:
        """:class:`Latency` per group of sources (by default their kind) and stage."""
        kinds = {s.name: s.kind for s in self.meta.irq}
        pooled: dict[str, dict[str, list[ValueCounts]]] = {}
        for source, stages in self.latency_value_counts(censored).items():
            key = (group or {}).get(source, kinds[source])
            for stage, counts in stages.items():
                pooled.setdefault(key, {}).setdefault(stage, []).append(counts)
        return {
            key: {
                stage: Latency.of_counts(ValueCounts.merged(parts))
                for stage, parts in stages.items()
            }
            for key, stages in pooled.items()
        }

    def domain_times(self) -> dict[str, VcpuTime]:
        """The vCPU times summed per domain."""
        return group_times(self.vcpus, self.meta, "domain")

    def class_times(self) -> dict[str, VcpuTime]:
        """The vCPU times summed per guest class (workload)."""
        return group_times(self.vcpus, self.meta, "workload")

    def same_as(self, other: Measurements) -> bool:
        """Every number equal (floats exactly): the check that online and trace-based
        measurements agree."""
        if (self.start_ns, self.end_ns, self.events) != (
            other.start_ns,
            other.end_ns,
            other.events,
        ):
            return False
        if self.locks != other.locks or self.vcpus != other.vcpus:
            return False
        if self.lock_wait != other.lock_wait or self.irqs != other.irqs:
            return False
        if self.lock_wait_hist.keys() != other.lock_wait_hist.keys() or not all(
            np.array_equal(v, other.lock_wait_hist[k]) for k, v in self.lock_wait_hist.items()
        ):
            return False
        return (self.latency_counts, self.pending_counts, self.cpu) == (
            other.latency_counts,
            other.pending_counts,
            other.cpu,
        )


def measure(
    trace: Trace,
    start_ns: int | None = None,
    end_ns: int | None = None,
    threads: int | None = None,
) -> Measurements:
    """The measurements of ``trace`` over ``[start_ns, end_ns)``.

    The metrics are independent of each other and spend their time in numpy,
    which releases the GIL: they run on ``threads`` threads (default: up to 2,
    fewer on a 1-CPU machine; 1 runs them in this thread). The numbers do not
    depend on it."""
    start, end = window_bounds(trace, start_ns, end_ns)
    trace.rows(EventKind.IRQ_RAISE)  # the index by kind every metric reads, built once
    if threads is None:
        threads = min(2, os.cpu_count() or 1)
    jobs: dict[str, Callable[[], Any]] = {
        "latency": lambda: irq_latency_split(trace, start, end, LATENCY_KINDS),
        "vcpus": lambda: vcpu_times(trace, start, end),
        "locks": lambda: lock_stats(trace, start, end),
        "lock_wait": lambda: lock_wait_in_running(trace, start, end),
        "irqs": lambda: irq_counts(trace, start, end, LATENCY_KINDS),
        "lock_wait_hist": lambda: lock_wait_histograms(trace, start, end),
    }
    if is_linux_host(trace.meta) and records(trace.meta, CpuTimeTracker.KINDS):
        jobs["cpu"] = lambda: cpu_times(trace, start, end)
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            futures = {name: pool.submit(job) for name, job in jobs.items()}
            out = {name: future.result() for name, future in futures.items()}
    else:
        out = {name: job() for name, job in jobs.items()}
    done, pending = out["latency"]
    return Measurements(
        start_ns=start,
        end_ns=end,
        events=len(trace),
        meta=trace.meta,
        locks=out["locks"],
        vcpus=out["vcpus"],
        lock_wait=out["lock_wait"],
        irqs=out["irqs"],
        latency_counts=_counted(done),
        pending_counts=_counted(pending),
        lock_wait_hist=out["lock_wait_hist"],
        cpu=out.get("cpu"),
    )


def records(meta: TraceMeta, kinds: tuple[EventKind, ...]) -> bool:
    """Whether the trace's source records every one of ``kinds`` (a simulation does)."""
    source = meta.source
    return source is None or {k.name for k in kinds} <= set(source.get("kinds", ()))


def _counted(
    samples: dict[str, dict[str, np.ndarray]],
) -> dict[str, dict[str, ValueCounts]]:
    return {
        source: {stage: ValueCounts.of(values) for stage, values in stages.items()}
        for source, stages in samples.items()
    }


def _expanded(
    counts: dict[str, dict[str, ValueCounts]],
) -> dict[str, dict[str, np.ndarray]]:
    return {
        source: {stage: c.expand() for stage, c in stages.items()}
        for source, stages in counts.items()
    }
