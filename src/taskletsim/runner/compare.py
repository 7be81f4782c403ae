"""Designs side by side: every design on the same seeds, over any ``concurrent.futures.Executor``.

Each replication runs in a worker and sends back only a small summary
(:func:`~taskletsim.runner.summary.run_summary`), never its trace. The same
seeds give the same numbers whatever the executor: a process pool on one
machine (:func:`~taskletsim.runner.pool.process_pool`), or a Dask cluster's
``Client.get_executor()`` on many.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass, field
from typing import Any

from ..core.config import ConfigError, check_max_memory_mb, check_max_wall_s, check_seeds
from ..designs.base import design_names, get_design
from ..hv.seam import DESIGNS
from ..scenarios import get_scenario, resolve_scenario_params, scenario_spec
from .pool import progress_bar
from .single import run
from .stats import Estimate
from .summary import run_curves, run_summary


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
