"""What a replication sends back: a run's flat summary of figures and its small curves.

Each replication runs in a worker and sends back only these (never its trace):
the figures a comparison or a sweep reads (:func:`run_summary`) and the
distributions a report draws (:func:`run_curves`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..metrics.counts import ValueCounts
from ..metrics.cputime import CpuTimes
from ..metrics.measure import Measurements
from ..metrics.runstates import VcpuTime
from ..metrics.steal import STEAL_READINGS, lock_readings
from .result import RunResult
from .single import run_spec
from .spec import RunSpec


def run_summary(result: RunResult) -> dict[str, float]:
    """The figures a comparison reads, flat, measured after the run's warm-up.

    Keys: ``lock.CLASS.acquisitions_per_s`` / ``contention_pct`` /
    ``wait_mean_ns`` / ``bounces_per_s`` per lock class (per-domain locks such
    as ``busy3:event_lock`` pooled as ``event_lock``, as lock_stat does);
    ``GUESTS.steal_pct`` and the other :data:`~taskletsim.metrics.steal.STEAL_READINGS`
    / ``hv_pct`` / ``lock_wait_pct_of_running`` (the part of RUNNING its pCPU
    spent spinning on a lock) / ``lock_wait_ms_per_30ms_wall`` (that time per
    30 ms of wall time) / ``lock_wait_pct_of_wall`` (the same over the wall time)
    per guest class; ``offered_irq_per_s`` (the
    scenario's), ``arrived_irq_per_s`` (passthrough arrivals in the run),
    ``raised_irq_per_s`` (MSIs that reached a CPU's IRR), ``coalesced_irq_per_s``
    (arrivals merged into a pending vector), ``held_irq_per_s`` and
    ``polled_irq_per_s`` (absorbed by an ``eoi`` or ``napi`` device),
    ``virq_coalesced_irq_per_s`` (merged into a pending virtual interrupt) and
    ``delivered_irq_per_s`` (raised MSIs whose vIRQ reached the guest);
    ``latency.KIND.STAGE.p50_ns`` / ``p99_ns``,
    where an interrupt not yet through a stage counts with the time to the
    end of the window (censored: a lower bound).

    An empty window (a run stopped by ``max_wall_s`` before its warm-up ended)
    gives 0 for every rate, share and percentile, as the metrics do for a
    window without events; it never raises.
    """
    return measured_summary(result.measured(), result.info)


def measured_summary(m: Measurements, info: Mapping[str, Any] | None = None) -> dict[str, float]:
    """:func:`run_summary` of measurements (of a run, or of any trace: a real host's);
    ``info`` the scenario's facts (``offered_irq_per_s``)."""
    info = info or {}
    window_s = (m.end_ns - m.start_ns) / 1e9

    def per_s(count: float) -> float:
        return count / window_s if window_s > 0 else 0.0

    out: dict[str, float] = {}
    classes: dict[str, list[int]] = {}  # lock class: acquisitions, contentions, wait, bounces
    for name, s in m.locks.items():
        totals = classes.setdefault(name.rpartition(":")[2], [0, 0, 0, 0])
        totals[0] += s.acquisitions
        totals[1] += s.contentions
        totals[2] += s.wait.total
        totals[3] += s.bounces
    for name, (acquisitions, contentions, wait, bounces) in classes.items():
        if not acquisitions:
            continue
        out[f"lock.{name}.acquisitions_per_s"] = per_s(acquisitions)
        out[f"lock.{name}.contention_pct"] = 100.0 * contentions / acquisitions
        out[f"lock.{name}.wait_mean_ns"] = wait / acquisitions
        out[f"lock.{name}.bounces_per_s"] = per_s(bounces)
    workload = {n: v.workload for n, v in m.meta.vcpus.items()}
    if m.cpu is not None:
        out.update(linux_summary(m.cpu, m.class_times(), workload, per_s))
        return _irq_summary(m, info, out, per_s)
    for cls, t in m.class_times().items():
        for reading in STEAL_READINGS:
            out[f"{cls}.{reading}"] = getattr(t, reading)
        out[f"{cls}.hv_pct"] = t.hv_pct
        spun = sum(ns for name, ns in m.lock_wait.items() if workload.get(name) == cls)
        for key, value in lock_readings(spun, t.running_ns, t.window_ns).items():
            out[f"{cls}.{key}"] = value
        out[f"{cls}.lock_wait_pct_of_wall"] = 100.0 * spun / t.window_ns if t.window_ns else 0.0
    return _irq_summary(m, info, out, per_s)


def linux_summary(
    cpu: CpuTimes,
    classes: Mapping[str, VcpuTime],
    workload: Mapping[str, str],
    per_s: Callable[[float], float],
) -> dict[str, float]:
    """A Linux host's figures: ``cpu.hardirq_pct`` / ``cpu.softirq_pct`` (shares of all
    CPU time, ``/proc/stat``'s ``irq`` and ``softirq``), ``cpu.ksoftirqd_softirq_pct``
    (the softirq time ``ksoftirqd`` ran), ``ksoftirqd_wakeups_per_s`` (hand-overs); per
    task class, ``steal_pct`` (its run-queue delay over the window, the runnable share
    as for a vCPU), ``runnable_share_of_wanted_pct``, and ``irq_pct_of_running`` /
    ``softirq_pct_of_running`` (interrupt time taken while it ran, over its running
    time: what ``CONFIG_IRQ_TIME_ACCOUNTING`` removes from it)."""
    out = {
        "cpu.hardirq_pct": cpu.hardirq_pct,
        "cpu.softirq_pct": cpu.softirq_pct,
        "cpu.ksoftirqd_softirq_pct": cpu.ksoftirqd_softirq_pct,
        "ksoftirqd_wakeups_per_s": per_s(cpu.ksoftirqd_wakeups),
    }
    for cls, t in classes.items():
        irq = sum(ns for n, ns in cpu.task_irq_ns.items() if workload.get(n) == cls)
        soft = sum(ns for n, ns in cpu.task_softirq_ns.items() if workload.get(n) == cls)
        out[f"{cls}.steal_pct"] = t.steal_pct
        out[f"{cls}.runnable_share_of_wanted_pct"] = t.runnable_share_of_wanted_pct
        out[f"{cls}.irq_pct_of_running"] = 100.0 * irq / t.running_ns if t.running_ns else 0.0
        out[f"{cls}.softirq_pct_of_running"] = 100.0 * soft / t.running_ns if t.running_ns else 0.0
    return out


def _irq_summary(
    m: Measurements,
    info: Mapping[str, Any],
    out: dict[str, float],
    per_s: Callable[[float], float],
) -> dict[str, float]:
    """The interrupt figures every host has (rates, merges, latency percentiles)."""
    censored = m.latency_by_kind(censored=True)
    device = m.latency_by_kind().get("device", {})
    every = censored.get("device", {})
    if "handler" in every:
        out["raised_irq_per_s"] = per_s(every["handler"].count)
        out["delivered_irq_per_s"] = per_s(device["virq"].count) if "virq" in device else 0.0
    kinds = {s.name: s.kind for s in m.meta.irq}
    counts = [c for name, c in m.irqs.items() if kinds[name] == "device"]
    if counts:
        for key in ("arrived", "coalesced", "held", "polled", "virq_coalesced"):
            out[f"{key}_irq_per_s"] = per_s(sum(getattr(c, key) for c in counts))
    if "offered_irq_per_s" in info:
        out["offered_irq_per_s"] = float(info["offered_irq_per_s"])
    for kind, stages in censored.items():
        for stage, lat in stages.items():
            out[f"latency.{kind}.{stage}.p50_ns"] = lat.p50_ns
            out[f"latency.{kind}.{stage}.p99_ns"] = lat.p99_ns
    return out


CURVE_PROBABILITIES = np.concatenate(
    [np.linspace(0.0, 0.9, 91), 1 - np.geomspace(0.1, 0.0001, 61)[1:]]
)
"""Where :func:`run_curves` takes latency quantiles: every 1% to 90%, then denser
towards the tail, up to 99.99%."""


def run_curves(result: RunResult) -> dict[str, list[float]]:
    """Small distributions a report draws, measured after the warm-up: for each kind of
    interrupt source, ``latency.KIND`` (the end-to-end latency, to the vIRQ injection
    or the last stage the source has; censored as in :func:`run_summary`) at
    :data:`CURVE_PROBABILITIES`; and ``lock_wait`` (contended acquisitions of every
    lock by wait, over :data:`~taskletsim.metrics.locks.WAIT_EDGES_NS`)."""
    m = result.measured()
    out: dict[str, list[float]] = {}
    pooled: dict[str, list[ValueCounts]] = {}
    kinds = {s.name: s.kind for s in m.meta.irq}
    for source, stages in m.latency_value_counts(censored=True).items():
        last = next(s for s in ("virq", "tasklet", "handler") if s in stages)
        pooled.setdefault(kinds[source], []).append(stages[last])
    for kind, parts in pooled.items():
        counts = ValueCounts.merged(parts)
        if counts.count:
            q = counts.quantile(CURVE_PROBABILITIES)
            out[f"latency.{kind}"] = [float(v) for v in q]
    if m.lock_wait_hist:
        out["lock_wait"] = [float(c) for c in np.sum(list(m.lock_wait_hist.values()), axis=0)]
    return out


@dataclass(frozen=True)
class Replica:
    """What one run sends back from a worker: never its trace."""

    summary: dict[str, float]
    """:func:`run_summary`."""
    digest: str
    curves: dict[str, list[float]]
    """:func:`run_curves` (empty when not asked for)."""
    reached_ns: int | None
    """The simulated time reached when ``max_wall_s`` stopped the run early, else ``None``."""


def replicate(spec: RunSpec, curves: bool = True) -> Replica:
    """Run ``spec`` (in a worker) and keep what a comparison or a sweep reads of it."""
    result = run_spec(spec)
    reached = result.duration_ns if result.truncated else None
    drawn = run_curves(result) if curves else {}
    return Replica(run_summary(result), result.digest, drawn, reached)
