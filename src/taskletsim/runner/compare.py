"""Designs side by side: every design on the same seeds, over any ``concurrent.futures.Executor``.

Each replication runs in a worker and sends back only a small summary
(:func:`~taskletsim.runner.summary.run_summary`), never its trace. The same
seeds give the same numbers whatever the executor: a process pool on one
machine (:func:`~taskletsim.runner.pool.process_pool`), or a Dask cluster's
``Client.get_executor()`` on many.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass, field
from typing import Any, Unpack

from ..core.config import ConfigError, check_seeds
from ..designs.base import get_design
from ..hv.seam import DESIGNS
from ..scenarios import get_scenario, resolve_scenario_params, scenario_designs, scenario_spec
from .pool import progress_bar
from .spec import RunOptions, RunSpec, shared_spec
from .stats import Estimate
from .summary import Replica, replicate


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
    """Per design, each seed's :func:`~taskletsim.runner.summary.run_curves`."""
    truncated: dict[str, dict[int, int]] = field(default_factory=dict)
    """Per design, the seeds whose run ``max_wall_s`` stopped early, with the simulated
    time each reached, ns (their figures cover only ``[warmup, reached)``)."""
    spec: RunSpec | None = None
    """What every run shares (its design and seed aside, left unset here)."""

    def ratio(self, design: str, metric: str) -> float:
        """``design``'s mean over the first design's, for ``metric``."""
        base = self.estimates[self.designs[0]].get(metric)
        mine = self.estimates[design].get(metric)
        if base is None or mine is None or base.mean == 0:
            return math.nan
        return mine.mean / base.mean


def compare(
    scenario: str | RunSpec,
    designs: Iterable[str] | None = None,
    seeds: Iterable[int] | int = (1, 2, 3),
    *,
    executor: Executor | None = None,
    progress: bool | Callable[[int, int], None] = False,
    **options: Unpack[RunOptions],
) -> Comparison:
    """Run every design on every seed (in parallel when given an executor).

    ``scenario`` and the ``options`` (``duration_ms``, ``warmup_ms``, ``params``,
    ``check``, ``metrics_only``, ``max_wall_s``, ``max_memory_mb``:
    :class:`~taskletsim.runner.spec.RunOptions`) describe the runs as
    :func:`~taskletsim.runner.single.run` takes them; or give a
    :class:`~taskletsim.runner.spec.RunSpec` instead (its design and seed
    unset: each run gets one of ``designs`` and ``seeds``).
    ``seeds`` is a list of seeds, or a count ``N`` for the seeds 1..N.
    ``designs`` defaults to the package's own, Xen 4.4's first (the baseline of
    every ratio). A design or scenario registered outside the package reaches
    the workers as ``module:Class`` (see :meth:`taskletsim.core.registry.Registry.spec`),
    so it works with any start method. Parameters are checked for every
    design before anything runs. ``metrics_only`` measures each run while it
    goes instead of keeping its trace (the same numbers, flat memory, no
    invariant check). ``progress`` is ``True`` for a tqdm bar or a callable
    ``(done, total)``. ``max_wall_s`` bounds each run's wall time;
    ``Comparison.truncated`` names the runs it stopped early. ``max_memory_mb``
    bounds each run's memory (by default a run may use most of what the machine
    has available: give less when several run at once, as ``taskletsim
    compare`` does for its workers).
    """
    base = shared_spec(scenario, "compare", **options)
    spec = get_scenario(base.scenario)
    if not spec.takes_design:
        raise ConfigError("scenario", base.scenario, "a scenario that takes a tasklet design")
    chosen = tuple(designs) if designs is not None else tuple(scenario_designs(spec))
    if not chosen:
        raise ConfigError("designs", chosen, "at least one design")
    labels = tuple(get_design(d).name for d in chosen)
    if len(set(labels)) != len(labels):
        raise ConfigError("designs", list(chosen), "each design once")
    seeds = check_seeds(seeds)
    for label in labels:
        resolve_scenario_params(spec, label, base.params)
    portable = base.with_(scenario=scenario_spec(base.scenario))
    jobs = [(label, portable.with_(design=DESIGNS.spec(label), seed=s)) for label in labels
            for s in seeds]  # fmt: skip
    report = progress_bar(len(jobs)) if progress is True else progress or None
    replicas: list[Replica] = []
    if executor is None:
        for _, job in jobs:
            replicas.append(replicate(job))
            if report is not None:
                report(len(replicas), len(jobs))
    else:
        futures = [executor.submit(replicate, job) for _, job in jobs]
        try:
            for done, _ in enumerate(as_completed(futures), 1):
                if report is not None:
                    report(done, len(jobs))
            replicas = [f.result() for f in futures]
        finally:
            for f in futures:
                f.cancel()
    estimates: dict[str, dict[str, Estimate]] = {}
    digests: dict[str, tuple[str, ...]] = {}
    curves: dict[str, tuple[dict[str, list[float]], ...]] = {}
    truncated: dict[str, dict[int, int]] = {}
    for label in labels:
        mine = [out for (d, _), out in zip(jobs, replicas, strict=True) if d == label]
        metrics = sorted({k for out in mine for k in out.summary})
        estimates[label] = {
            k: Estimate.of(out.summary.get(k, 0.0) for out in mine) for k in metrics
        }
        digests[label] = tuple(out.digest for out in mine)
        curves[label] = tuple(out.curves for out in mine)
        stopped = {
            s: out.reached_ns
            for s, out in zip(seeds, mine, strict=True)
            if out.reached_ns is not None
        }
        if stopped:
            truncated[label] = stopped
    shared = base.with_(scenario=spec.name)
    return Comparison(
        spec.name, labels, seeds, dict(base.params), estimates, digests, curves, truncated, shared
    )
