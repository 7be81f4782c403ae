"""Parameter sweeps: the product of a grid, designs and seeds, run over any Executor.

Each run goes to a worker and sends back only its summary
(:func:`taskletsim.runner.compare.run_summary`) and digest, never its
trace. The rows come back in the order of the product, whatever the
executor, so a sweep gives the same table on one process, a process pool or
a Dask cluster (``distributed.Client(...).get_executor()``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..core.config import ConfigError, check_seed
from ..designs.base import design_names, get_design
from ..hv.seam import DESIGNS
from ..scenarios import SCENARIOS, get_scenario, resolve_scenario_params
from .compare import Estimate, run_summary
from .single import run

if TYPE_CHECKING:
    import pandas as pd

KEYS = ("scenario", "design", "seed", "digest")
"""Columns of every row besides the grid's parameters and the metrics."""


def _one(
    scenario: str,
    design: str | None,
    seed: int,
    duration_ms: float | None,
    warmup_ms: float,
    params: Mapping[str, object],
    check: bool,
) -> dict[str, Any]:
    """One run in a worker: its summary and digest."""
    result = run(
        scenario,
        design=design,
        seed=seed,
        duration_ms=duration_ms,
        warmup_ms=warmup_ms,
        params=params,
        check=check,
    )
    return {"digest": result.digest, **run_summary(result)}


@dataclass(frozen=True)
class SweepResult:
    """``runs``: one row per run (the grid's parameters, design, seed, digest, metrics);
    ``summary``: per (parameters, design), each metric's mean and 95% CI half-width
    over the seeds (``METRIC`` and ``METRIC.ci95`` columns)."""

    runs: pd.DataFrame
    summary: pd.DataFrame
    grid: tuple[str, ...]


def grid_points(grid: Mapping[str, Sequence[object]]) -> list[dict[str, object]]:
    """Every combination of the grid's values, the last key varying fastest."""
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def sweep(
    scenario: str,
    grid: Mapping[str, Sequence[object]],
    designs: Iterable[str] | None = None,
    seeds: Iterable[int] = (1,),
    *,
    duration_ms: float | None = None,
    warmup_ms: float = 0.0,
    params: Mapping[str, object] | None = None,
    executor: Executor | None = None,
    check: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Run ``scenario`` for every point of ``grid`` x ``designs`` x ``seeds``.

    ``params`` are fixed parameters for every run; ``grid`` maps parameter
    names to the values to sweep. Every point is checked before anything
    runs. ``progress(done, total)`` is called as runs finish.
    """
    import pandas as pd

    spec = get_scenario(scenario)
    fixed = dict(params or {})
    overlap = set(fixed) & set(grid)
    if overlap:
        raise ConfigError("grid", sorted(overlap), "parameters not also given as fixed params")
    if spec.takes_design:
        chosen = tuple(designs) if designs is not None else tuple(design_names(builtin=True))
        labels: tuple[str | None, ...] = tuple(get_design(d).name for d in chosen)
    else:
        if designs:
            raise ConfigError("design", list(designs), f"none: {spec.name} takes no design")
        labels = (None,)
    seeds = tuple(check_seed(s) for s in seeds)
    points = grid_points(grid)
    for point in points:
        for label in labels:
            resolve_scenario_params(spec, label, {**fixed, **point})
    where = SCENARIOS.spec(scenario)
    jobs = [(point, label, seed) for point in points for label in labels for seed in seeds]

    def args(job: tuple[dict[str, object], str | None, int]) -> tuple[Any, ...]:
        point, label, seed = job
        spec_name = DESIGNS.spec(label) if label is not None else None
        return (where, spec_name, seed, duration_ms, warmup_ms, {**fixed, **point}, check)

    rows: list[dict[str, Any]] = []
    if executor is None:
        for i, job in enumerate(jobs):
            rows.append(_one(*args(job)))
            if progress is not None:
                progress(i + 1, len(jobs))
    else:
        futures = [executor.submit(_one, *args(job)) for job in jobs]
        for done, future in enumerate(futures, 1):
            rows.append(future.result())
            if progress is not None:
                progress(done, len(jobs))
    table = [
        {"scenario": spec.name, "design": label, "seed": seed, **point, **row}
        for (point, label, seed), row in zip(jobs, rows, strict=True)
    ]
    runs = pd.DataFrame(table)
    return SweepResult(runs, summarize(runs, tuple(grid)), tuple(grid))


def summarize(runs: pd.DataFrame, grid: Sequence[str]) -> pd.DataFrame:
    """Mean and 95% CI half-width over seeds of every metric, per grid point and design."""
    import pandas as pd

    keys = [*grid, "design"]
    metrics = [c for c in runs.columns if c not in (*KEYS, *grid)]
    out = []
    for key, group in runs.groupby(keys, sort=False, dropna=False):
        row: dict[str, Any] = dict(
            zip(keys, key if isinstance(key, tuple) else (key,), strict=True)
        )
        row["seeds"] = len(group)
        for m in metrics:
            est = Estimate.of(group[m].dropna().tolist())
            row[m] = est.mean
            row[f"{m}.ci95"] = est.ci95
        out.append(row)
    return pd.DataFrame(out)
