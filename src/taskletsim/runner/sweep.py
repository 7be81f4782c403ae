"""Parameter sweeps: the product of a grid, designs and seeds, run over any Executor.

Each run goes to a worker and sends back only its summary
(:func:`taskletsim.runner.summary.run_summary`) and digest, never its
trace. The rows are kept in the order of the product, whatever the executor
and whatever order the runs finish in, so a sweep gives the same table on
one process, a process pool or a Dask cluster
(``distributed.Client(...).get_executor()``); with an output file it resumes.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, as_completed
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from ..core.config import (
    ConfigError,
    check_duration_ms,
    check_seeds,
    check_warmup_ms,
)
from ..designs.base import get_design
from ..hv.seam import DESIGNS
from ..scenarios import get_scenario, resolve_scenario_params, scenario_designs, scenario_spec
from .pool import progress_bar
from .spec import RunOptions, RunSpec, shared_spec
from .stats import Estimate
from .summary import replicate

if TYPE_CHECKING:
    import pandas as pd

KEYS = ("scenario", "design", "seed", "config", "digest")
"""Columns of every row besides the grid's parameters and the metrics. ``config`` is a
short hash of everything but the seed that decides a run (scenario, design, what it
models: every resolved parameter, or a host's full description; duration, warm-up): a
sweep resumed into the same file skips the rows whose ``(config, seed)`` it already
holds."""

FACTS = ("truncated", "duration_ns", "spec")
"""Columns of a row about the run itself, not metrics (rows of older sweeps may lack them):
``spec`` is the run's :class:`~taskletsim.runner.spec.RunSpec` as JSON."""

SAVE_EVERY_S = 5.0
"""How often a sweep with an ``output`` file writes the rows it has (and at the end)."""


def _one(duration_ns: int, spec: RunSpec) -> dict[str, Any]:
    """One run of ``duration_ns`` in a worker: its summary, digest, and whether
    ``max_wall_s`` stopped it early (``truncated``, with the simulated time reached
    in ``duration_ns``)."""
    replica = replicate(spec, curves=False)
    reached = replica.reached_ns
    return {
        "digest": replica.digest,
        "truncated": reached is not None,
        "duration_ns": duration_ns if reached is None else reached,
        **replica.summary,
    }


@dataclass(frozen=True)
class SweepResult:
    """``runs``: one row per run (the grid's parameters, design, seed, config, digest,
    metrics); ``summary``: per (parameters, design), each metric's mean and 95% CI
    half-width over the seeds (``METRIC`` and ``METRIC.ci95`` columns); ``reused``: how
    many rows came from the output file instead of being run."""

    runs: pd.DataFrame
    summary: pd.DataFrame
    grid: tuple[str, ...]
    reused: int = 0


def grid_points(grid: Mapping[str, Sequence[object]]) -> list[dict[str, object]]:
    """Every combination of the grid's values, the last key varying fastest."""
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def config_key(
    scenario: str,
    design: str | None,
    model: Mapping[str, object],
    duration_ns: int,
    warmup_ns: int,
) -> str:
    """The ``config`` column: 16 hex digits of a SHA-256 of what decides a run but its seed
    (``model``: :meth:`taskletsim.Scenario.model`)."""
    text = json.dumps(
        [scenario, design, dict(model), duration_ns, warmup_ns], sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_runs(path: str | Path) -> pd.DataFrame | None:
    """The rows an earlier sweep wrote to ``path``, or ``None`` if there is no such file."""
    import pandas as pd

    target = Path(path)
    if not target.exists():
        return None
    try:
        runs = pd.read_parquet(target)
    except Exception as error:  # pyarrow raises several kinds for a file that is not Parquet
        raise ConfigError(
            "output", str(path), f"a Parquet file written by a sweep ({error})"
        ) from None
    missing = [k for k in KEYS if k not in runs.columns]
    if missing:
        raise ConfigError("output", str(path), f"a sweep's rows (it lacks columns {missing})")
    return runs


def _save(runs: pd.DataFrame, path: Path) -> None:
    """Write atomically: an interrupted write leaves the previous file whole."""
    tmp = path.with_name(path.name + ".tmp")
    runs.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def sweep(
    scenario: str | RunSpec,
    grid: Mapping[str, Sequence[object]],
    designs: Iterable[str] | None = None,
    seeds: Iterable[int] | int = (1,),
    *,
    executor: Executor | None = None,
    output: str | Path | None = None,
    progress: bool | Callable[[int, int], None] = False,
    **options: Unpack[RunOptions],
) -> SweepResult:
    """Run ``scenario`` for every point of ``grid`` x ``designs`` x ``seeds``.

    ``scenario`` and the ``options`` (:class:`~taskletsim.runner.spec.RunOptions`)
    describe the runs as :func:`~taskletsim.runner.single.run` takes them; or
    give a :class:`~taskletsim.runner.spec.RunSpec` instead (its design and
    seed unset). ``seeds`` is a list of seeds, or a count ``N`` for the seeds 1..N.
    ``params`` are fixed parameters for every run; ``grid`` maps parameter
    names to the values to sweep (strings are parsed as on the command line;
    the rows hold the resolved values). Every point is checked before anything
    runs. ``executor`` is any :class:`concurrent.futures.Executor` (a process
    pool, or a Dask cluster's ``Client.get_executor()``); each run sends back
    only its summary and digest. With ``output`` (a ``.parquet`` path) the rows
    already in the file are reused, not run again, and the rows are written as
    they come (every :data:`SAVE_EVERY_S` and at the end, also when interrupted),
    so an interrupted sweep resumes where it stopped. ``progress`` is ``True`` for
    a tqdm bar or a callable ``(done, total)``. ``metrics_only`` measures each
    run without keeping its trace (same numbers; no invariant check).
    ``max_wall_s`` bounds each run's wall time: a run it stops early has
    ``truncated`` true in its row (and the simulated time reached in
    ``duration_ns``), and a resumed sweep runs it again. ``max_memory_mb`` bounds
    each run's memory (see :func:`~taskletsim.runner.compare.compare`).
    """
    import pandas as pd

    base = shared_spec(scenario, "the sweep", **options)
    spec = get_scenario(base.scenario)
    fixed = dict(base.params)
    duration_ms, warmup_ms = base.duration_ms, base.warmup_ms
    overlap = set(fixed) & set(grid)
    if overlap:
        raise ConfigError("grid", sorted(overlap), "parameters not also given as fixed params")
    for key, values in grid.items():
        if isinstance(values, str | bytes) or not len(values):
            raise ConfigError(f"grid.{key}", values, "a non-empty list of values")
    if spec.takes_design:
        chosen = tuple(designs) if designs is not None else tuple(scenario_designs(spec))
        if not chosen:
            raise ConfigError("designs", list(chosen), "at least one design")
        labels: tuple[str | None, ...] = tuple(get_design(d).name for d in chosen)
    else:
        if designs:
            raise ConfigError("design", list(designs), f"none: {spec.name} takes no design")
        labels = (None,)
    seeds = check_seeds(seeds)
    duration = check_duration_ms(spec.default_duration_ms if duration_ms is None else duration_ms)
    if warmup_ms is None:
        warmup_ms = spec.default_warmup_ms or 0.0
    duration_ns, warmup_ns = round(duration * 1e6), round(check_warmup_ms(warmup_ms) * 1e6)
    if warmup_ns >= duration_ns:
        raise ConfigError("warmup_ms", warmup_ms, f"less than the duration ({duration:g} ms)")
    where = scenario_spec(base.scenario)  # how a worker finds it (a file's absolute path)
    base = base.with_(scenario=spec.name)
    points = grid_points(grid)
    jobs: list[tuple[dict[str, object], str | None, int, str]] = []
    for point in points:
        for label in labels:
            try:
                resolved = resolve_scenario_params(spec, label, {**fixed, **point})
            except ConfigError as error:
                if error.field != "--set":  # an unknown name: say where it came from
                    raise
                key = str(error.value).partition("=")[0]
                raise ConfigError(
                    f"grid.{key}" if key in grid else f"params.{key}", key, error.allowed
                ) from None
            typed = {k: resolved[k] for k in grid}
            model = spec.model(resolved, label)
            config = config_key(spec.name, label, model, duration_ns, warmup_ns)
            jobs.extend((typed, label, seed, config) for seed in seeds)
    target = Path(output) if output is not None else None
    earlier = load_runs(target) if target is not None else None
    done: dict[tuple[str, int], dict[str, Any]] = {}
    if earlier is not None:
        for row in earlier.to_dict("records"):
            if row.get("truncated") is True:  # stopped by max_wall_s: run it again
                continue
            done[(str(row["config"]), int(row["seed"]))] = {str(k): v for k, v in row.items()}
    todo = [i for i, job in enumerate(jobs) if (job[3], job[2]) not in done]
    reused = len(jobs) - len(todo)
    report = progress_bar(len(jobs)) if progress is True else progress or None
    rows: dict[int, dict[str, Any]] = {}

    def run_of(i: int) -> RunSpec:
        point, label, seed, _ = jobs[i]
        return base.with_(design=label, seed=seed, params={**fixed, **point})

    def table() -> list[dict[str, Any]]:
        out = []
        for i, (point, label, seed, config) in enumerate(jobs):
            if i in rows:
                head = {"scenario": spec.name, "design": label, "seed": seed, "config": config}
                out.append({**head, **point, **rows[i], "spec": run_of(i).to_json()})
            elif (config, seed) in done:
                out.append(done[(config, seed)])
        return out

    def args(i: int) -> tuple[int, RunSpec]:
        label = jobs[i][1]
        portable = run_of(i).with_(scenario=where)
        return duration_ns, portable.with_(design=None if label is None else DESIGNS.spec(label))

    saved = time.monotonic()

    def finished(i: int, row: dict[str, Any]) -> None:
        nonlocal saved
        rows[i] = row
        if report is not None:
            report(reused + len(rows), len(jobs))
        if target is not None and time.monotonic() - saved >= SAVE_EVERY_S:
            _save(pd.DataFrame(table()), target)
            saved = time.monotonic()

    if report is not None and reused:
        report(reused, len(jobs))
    try:
        if executor is None:
            for i in todo:
                finished(i, _one(*args(i)))
        else:
            futures = {executor.submit(_one, *args(i)): i for i in todo}
            try:
                for future in as_completed(futures):
                    finished(futures[future], future.result())
            finally:
                for future in futures:
                    future.cancel()
    finally:
        if target is not None and rows:
            _save(pd.DataFrame(table()), target)
    runs = pd.DataFrame(table())
    return SweepResult(runs, summarize(runs, tuple(grid)), tuple(grid), reused)


@contextmanager
def dask_executor(address: str, workers: int | None = None) -> Iterator[Executor]:
    """An executor on a Dask cluster: the scheduler at ``address``, or with ``"local"`` a
    LocalCluster of ``workers`` single-threaded processes (default: the CPU count),
    closed on exit. Needs the ``dask`` extra."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError(
            "dask", address, "dask installed: pip install 'taskletsim[dask]'"
        ) from None
    with ExitStack() as stack:
        if address == "local":
            cluster = LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            stack.enter_context(cluster)
            client = Client(cluster)  # type: ignore[no-untyped-call]
        else:
            try:
                client = Client(address, timeout="10s")  # type: ignore[no-untyped-call]
            except (OSError, TimeoutError) as error:
                raise ConfigError(
                    "dask", address, f"a reachable Dask scheduler ({error})"
                ) from None
        stack.enter_context(client)
        yield client.get_executor()  # type: ignore[no-untyped-call]


def summarize(runs: pd.DataFrame, grid: Sequence[str]) -> pd.DataFrame:
    """Mean and 95% CI half-width over seeds of every metric, per grid point and design."""
    import pandas as pd

    keys = [*grid, "design"]
    metrics = [c for c in runs.columns if c not in (*KEYS, *FACTS, *grid)]
    out = []
    for key, group in runs.groupby(keys, sort=False, dropna=False):
        row: dict[str, Any] = dict(
            zip(keys, key if isinstance(key, tuple) else (key,), strict=True)
        )
        row["seeds"] = len(group)
        if "truncated" in group:
            row["truncated"] = int(group["truncated"].fillna(False).astype(bool).sum())
        for m in metrics:
            est = Estimate.of(group[m].dropna().tolist())
            row[m] = est.mean
            row[f"{m}.ci95"] = est.ci95
        out.append(row)
    return pd.DataFrame(out)
