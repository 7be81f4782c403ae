"""Replications and comparisons over any ``concurrent.futures.Executor``.

Each replication runs in a worker and sends back only a small summary
(:func:`run_summary`), never its trace. The same seeds give the same numbers
whatever the executor: a process pool on one machine, or a Dask cluster's
``Client.get_executor()`` on many.
"""

from __future__ import annotations

import math
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.config import ConfigError, check_max_memory_mb, check_max_wall_s, check_seeds
from ..designs.base import design_names, get_design
from ..hv.seam import DESIGNS
from ..metrics.counts import ValueCounts
from ..scenarios import get_scenario, resolve_scenario_params, scenario_spec
from .result import RunResult
from .single import MEMORY_SHARE, available_memory, run

# Two-sided 95% Student t critical values by degrees of freedom (1..30).
_T95 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t95(df: int) -> float:
    """The two-sided 95% Student t quantile for ``df`` degrees of freedom."""
    if df < 1:
        return math.nan
    return _T95[df - 1] if df <= len(_T95) else 1.96


def run_summary(result: RunResult) -> dict[str, float]:
    """The figures a comparison reads, flat, measured after the run's warm-up.

    Keys: ``lock.CLASS.acquisitions_per_s`` / ``contention_pct`` /
    ``wait_mean_ns`` / ``bounces_per_s`` per lock class (per-domain locks such
    as ``busy3:event_lock`` pooled as ``event_lock``, as lock_stat does);
    ``GUESTS.steal_pct`` / ``hv_pct`` / ``lock_wait_pct_of_running`` (the part of
    RUNNING its pCPU spent spinning on a lock) / ``lock_wait_pct_of_wall`` (the
    same time over the wall time) per guest class; ``offered_irq_per_s`` (the
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
    m = result.measured()
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
    for cls, t in m.class_times().items():
        out[f"{cls}.steal_pct"] = t.steal_pct
        out[f"{cls}.hv_pct"] = t.hv_pct
        spun = sum(ns for name, ns in m.lock_wait.items() if workload.get(name) == cls)
        out[f"{cls}.lock_wait_pct_of_running"] = (
            100.0 * spun / t.running_ns if t.running_ns else 0.0
        )
        out[f"{cls}.lock_wait_pct_of_wall"] = 100.0 * spun / t.window_ns if t.window_ns else 0.0
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
    if "offered_irq_per_s" in result.info:
        out["offered_irq_per_s"] = float(result.info["offered_irq_per_s"])
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


def _replicate(
    scenario: str,
    design: str | None,
    seed: int,
    duration_ms: float | None,
    warmup_ms: float | None,
    params: Mapping[str, object],
    check: bool = True,
    metrics_only: bool = False,
    max_wall_s: float | None = None,
    max_memory_mb: float | None = None,
    *,
    curves: bool = True,
) -> tuple[dict[str, float], str, dict[str, list[float]], int | None]:
    """One run in a worker; only its summary, digest, curves (empty unless ``curves``)
    and (when ``max_wall_s`` stopped it early) the simulated time it reached travel
    back, never its trace."""
    result = run(
        scenario,
        design=design,
        seed=seed,
        duration_ms=duration_ms,
        warmup_ms=warmup_ms,
        params=params,
        check=check,
        metrics_only=metrics_only,
        max_wall_s=max_wall_s,
        max_memory_mb=max_memory_mb,
    )
    reached = result.duration_ns if result.truncated else None
    drawn = run_curves(result) if curves else {}
    return run_summary(result), result.digest, drawn, reached


@dataclass(frozen=True)
class Estimate:
    """Mean over seeds, the 95% confidence half-width, and the per-seed values."""

    mean: float
    ci95: float
    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Iterable[float]) -> Estimate:
        data = tuple(values)
        arr = np.array(data, dtype=float)
        if len(arr) < 2:
            return cls(float(arr.mean()) if len(arr) else math.nan, math.nan, data)
        half = t95(len(arr) - 1) * float(arr.std(ddof=1)) / math.sqrt(len(arr))
        return cls(float(arr.mean()), half, data)


@dataclass(frozen=True)
class Comparison:
    """Designs side by side on the same seeds: ``estimates[design][metric]``."""

    scenario: str
    designs: tuple[str, ...]
    seeds: tuple[int, ...]
    params: dict[str, Any]
    estimates: dict[str, dict[str, Estimate]]
    digests: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Per design, each seed's run digest."""
    curves: dict[str, tuple[dict[str, list[float]], ...]] = field(default_factory=dict)
    """Per design, each seed's :func:`run_curves`."""
    truncated: dict[str, dict[int, int]] = field(default_factory=dict)
    """Per design, the seeds whose run ``max_wall_s`` stopped early, with the simulated
    time each reached, ns (their figures cover only ``[warmup, reached)``)."""

    def ratio(self, design: str, metric: str) -> float:
        """``design``'s mean over the first design's, for ``metric``."""
        base = self.estimates[self.designs[0]].get(metric)
        mine = self.estimates[design].get(metric)
        if base is None or mine is None or base.mean == 0:
            return math.nan
        return mine.mean / base.mean


def compare(
    scenario: str,
    designs: Iterable[str] | None = None,
    seeds: Iterable[int] | int = (1, 2, 3),
    *,
    duration_ms: float | None = None,
    warmup_ms: float | None = None,
    params: Mapping[str, object] | None = None,
    executor: Executor | None = None,
    check: bool = True,
    metrics_only: bool = False,
    max_wall_s: float | None = None,
    max_memory_mb: float | None = None,
    progress: bool | Callable[[int, int], None] = False,
) -> Comparison:
    """Run every design on every seed (in parallel when given an executor).

    ``seeds`` is a list of seeds, or a count ``N`` for the seeds 1..N.
    ``designs`` defaults to the package's own, Xen 4.4's first (the baseline of
    every ratio). A design or scenario registered outside the package reaches
    the workers as ``module:Class`` (see :meth:`taskletsim.core.registry.Registry.spec`),
    so it works with any start method. Parameters are checked for every
    design before anything runs. ``metrics_only`` measures each run while it
    goes instead of keeping its trace (the same numbers, flat memory, no
    invariant check: see :func:`~taskletsim.runner.single.run`). ``progress`` is
    ``True`` for a tqdm bar or a callable ``(done, total)``.
    ``max_wall_s`` bounds each run's wall time (see
    :func:`~taskletsim.runner.single.run`); ``Comparison.truncated`` names the runs
    it stopped early. ``max_memory_mb`` bounds each run's memory (by default a
    run may use most of what the machine has available: give less when several
    run at once, as ``taskletsim compare`` does for its workers).
    """
    spec = get_scenario(scenario)
    if not spec.takes_design:
        raise ConfigError("scenario", scenario, "a scenario that takes a tasklet design")
    chosen = tuple(designs) if designs is not None else tuple(design_names(builtin=True))
    if not chosen:
        raise ConfigError("designs", chosen, "at least one design")
    labels = tuple(get_design(d).name for d in chosen)
    if len(set(labels)) != len(labels):
        raise ConfigError("designs", list(chosen), "each design once")
    seeds = check_seeds(seeds)
    params = dict(params or {})
    for label in labels:
        resolve_scenario_params(spec, label, params)
    where = scenario_spec(scenario)
    jobs = [(label, DESIGNS.spec(label), s) for label in labels for s in seeds]
    if max_wall_s is not None:
        max_wall_s = check_max_wall_s(max_wall_s)
    if max_memory_mb is not None:
        max_memory_mb = check_max_memory_mb(max_memory_mb)
    args = (duration_ms, warmup_ms, params, check, metrics_only, max_wall_s, max_memory_mb)
    report = progress_bar(len(jobs)) if progress is True else progress or None
    summaries: list[tuple[dict[str, float], str, dict[str, list[float]], int | None]] = []
    if executor is None:
        for _, d, s in jobs:
            summaries.append(_replicate(where, d, s, *args))
            if report is not None:
                report(len(summaries), len(jobs))
    else:
        futures = [executor.submit(_replicate, where, d, s, *args) for _, d, s in jobs]
        try:
            for done, _ in enumerate(as_completed(futures), 1):
                if report is not None:
                    report(done, len(jobs))
            summaries = [f.result() for f in futures]
        finally:
            for f in futures:
                f.cancel()
    estimates: dict[str, dict[str, Estimate]] = {}
    digests: dict[str, tuple[str, ...]] = {}
    curves: dict[str, tuple[dict[str, list[float]], ...]] = {}
    truncated: dict[str, dict[int, int]] = {}
    for label in labels:
        mine = [out for (d, _, _), out in zip(jobs, summaries, strict=True) if d == label]
        metrics = sorted({k for summ, *_ in mine for k in summ})
        estimates[label] = {k: Estimate.of(summ.get(k, 0.0) for summ, *_ in mine) for k in metrics}
        digests[label] = tuple(out[1] for out in mine)
        curves[label] = tuple(out[2] for out in mine)
        stopped = {s: out[3] for s, out in zip(seeds, mine, strict=True) if out[3] is not None}
        if stopped:
            truncated[label] = stopped
    return Comparison(spec.name, labels, seeds, params, estimates, digests, curves, truncated)


def progress_bar(total: int) -> Callable[[int, int], None]:
    """A tqdm bar on stderr, as a ``(done, total)`` callback that closes it at the end."""
    from tqdm import tqdm

    bar = tqdm(total=total, unit="run", dynamic_ncols=True)

    def update(done: int, _total: int) -> None:
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the parent, which stops them (:func:`process_pool`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def worker_memory_mb(workers: int) -> float | None:
    """Each of ``workers`` runs' share of :data:`~taskletsim.runner.single.MEMORY_SHARE`
    of the memory available, MiB (``None`` when unknown)."""
    available = available_memory()
    if available is None:
        return None
    return available * MEMORY_SHARE / max(workers, 1) / 2**20


def default_executor(jobs: int | None = None) -> Executor | None:
    """A process pool of ``jobs`` workers (default: the CPU count); ``None`` for one.
    Its workers ignore Ctrl-C: the parent decides (see :func:`process_pool`)."""
    workers = jobs or os.cpu_count() or 1
    if workers < 2:
        return None
    return ProcessPoolExecutor(max_workers=workers, initializer=_ignore_sigint)


@contextmanager
def process_pool(jobs: int | None = None) -> Iterator[Executor | None]:
    """:func:`default_executor` for a ``with`` block: shut down at the end, and on an
    exception its queued runs are cancelled and its workers terminated at once
    instead of finishing the runs they hold.

    Ctrl-C (SIGINT) in the block, in the main thread, terminates the workers from the
    signal handler and raises :class:`KeyboardInterrupt` when the block ends: the
    failed runs end any wait on them. Raised where the signal lands, it could stop
    ``concurrent.futures`` holding a future's lock (``as_completed`` takes them all),
    and the pool's shutdown would then wait for ever."""
    executor = default_executor(jobs)
    if not isinstance(executor, ProcessPoolExecutor):
        yield executor
        return
    pool = executor
    interrupted = False

    def stop_workers(_signum: int = 0, _frame: object = None) -> None:
        nonlocal interrupted
        interrupted = True
        _terminate_workers(pool)

    on_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, stop_workers) if on_main else None
    try:
        yield executor
    except BaseException:
        _terminate_workers(pool)
        pool.shutdown(wait=True, cancel_futures=True)
        if interrupted:
            raise KeyboardInterrupt from None
        raise
    else:
        pool.shutdown(cancel_futures=True)
        if interrupted:
            raise KeyboardInterrupt
    finally:
        if on_main:  # a handler not set from Python reads as None: the default then
            signal.signal(
                signal.SIGINT, signal.default_int_handler if previous is None else previous
            )


def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    """SIGTERM to every worker: no lock taken, so a signal handler may call it.
    ProcessPoolExecutor has no public way to stop running work before Python 3.14."""
    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        process.terminate()
