"""``taskletsim plot``: a figure from saved results, or from a run made for it.

Inputs are read by their extension: ``.parquet`` a saved trace (``run
--save-trace``) or a sweep's rows (``sweep -o``), ``.json`` a ``compare
--json`` document. Without inputs the figure's data is simulated: a
comparison over seeds for ``latency``, ``lockwait`` and ``steal``, one short
run for ``timeline``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..core.config import ConfigError
from ..core.trace import Trace
from ..metrics.measure import measure
from ..runner.compare import Comparison, compare
from ..runner.single import run
from . import plots
from .documents import comparison_from_document
from .tables import sweep_metrics

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

KINDS = ("latency", "steal", "lockwait", "timeline", "sweep")
"""The figures ``taskletsim plot`` draws."""

SUFFIXES = (".png", ".svg")


@dataclass
class Simulate:
    """What to run when a figure has no input files."""

    scenario: str | None = None
    designs: list[str] = field(default_factory=list)
    seeds: int = 1
    seed: int = 1
    duration_ms: float | None = None
    warmup_ms: float | None = None
    params: dict[str, object] = field(default_factory=dict)


def load_input(path: str) -> Trace | Comparison | pd.DataFrame:
    """A saved trace, a sweep's rows (both ``.parquet``) or a compare document (``.json``)."""
    import pandas as pd
    import pyarrow.parquet as pq

    target = Path(path)
    if not target.is_file():
        raise ConfigError("input", path, "an existing file")
    if target.suffix == ".json":
        try:
            return comparison_from_document(json.loads(target.read_text()))
        except (ValueError, UnicodeDecodeError) as error:
            raise ConfigError("input", path, f"a compare --json document ({error})") from None
    if target.suffix != ".parquet":
        raise ConfigError("input", path, "a .parquet trace or sweep file, or a .json comparison")
    try:
        meta = pq.read_schema(target).metadata or {}
    except Exception as error:  # pyarrow's errors for a file that is not Parquet vary
        raise ConfigError("input", path, f"a Parquet file ({error})") from None
    if b"taskletsim.meta" in meta:
        return Trace.load(target)
    return pd.read_parquet(target)


def _label(trace: Trace, path: str, used: set[str]) -> str:
    label = str(trace.meta.design or trace.meta.scenario or Path(path).stem)
    if label in used:
        label = f"{label} ({Path(path).stem})"
    used.add(label)
    return label


def _traces(inputs: Sequence[str], kind: str) -> list[tuple[str, Trace]]:
    out: list[tuple[str, Trace]] = []
    used: set[str] = set()
    for path in inputs:
        item = load_input(path)
        if not isinstance(item, Trace):
            raise ConfigError("input", path, f"a saved trace (.parquet) for plot {kind}")
        out.append((_label(item, path, used), item))
    return out


def _comparison(inputs: Sequence[str], sim: Simulate, kind: str) -> Comparison | None:
    if len(inputs) == 1 and inputs[0].endswith(".json"):
        item = load_input(inputs[0])
        assert isinstance(item, Comparison)
        return item
    if inputs:
        return None
    if sim.scenario is None:
        raise ConfigError("--scenario", None, f"a scenario to run, or input files for plot {kind}")
    return compare(
        sim.scenario,
        sim.designs or None,
        range(1, sim.seeds + 1),
        duration_ms=sim.duration_ms,
        warmup_ms=sim.warmup_ms,
        params=sim.params,
    )


def figure(
    kind: str,
    inputs: Sequence[str],
    sim: Simulate,
    *,
    window_us: tuple[float, float] | None = None,
    cpus: Sequence[int] | None = None,
    x: str | None = None,
    metric: str | None = None,
) -> Figure:
    """The figure ``kind`` (one of :data:`KINDS`) of ``inputs``, or of a simulation."""
    if kind == "latency":
        return _latency(inputs, sim)
    if kind == "lockwait":
        return _lockwait(inputs, sim)
    if kind == "steal":
        comparison = _comparison(inputs, sim, kind)
        if comparison is None:
            raise ConfigError("input", list(inputs), "one compare --json document for plot steal")
        return plots.steal_bars(comparison)
    if kind == "timeline":
        return _timeline(inputs, sim, window_us, cpus)
    if kind == "sweep":
        return _sweep(inputs, x, metric)
    raise ConfigError("figure", kind, "one of " + ", ".join(KINDS))


def _latency(inputs: Sequence[str], sim: Simulate) -> Figure:
    comparison = _comparison(inputs, sim, "latency")
    series: dict[str, dict[str, plots.Cdf]] = {}
    if comparison is not None:
        for design in comparison.designs:
            for kind in ("device", "timer"):
                cdf = plots.curves_cdf(comparison.curves.get(design, ()), f"latency.{kind}")
                if cdf is not None:
                    series.setdefault(kind, {})[design] = cdf
        if not series:
            raise ConfigError("input", list(inputs), "a comparison with latency curves")
        seeds = len(comparison.seeds)
        title = f"{comparison.scenario}: interrupt latency, quantiles averaged over {seeds} seed(s)"
        return plots.latency_cdf(series, title)
    for label, trace in _traces(inputs, "latency"):
        m = measure(trace, trace.meta.warmup_ns, None)
        kinds = {s.name: s.kind for s in m.meta.irq}
        pooled: dict[str, list[np.ndarray]] = {}
        for source, stages in m.latency_samples(censored=True).items():
            last = next(s for s in ("virq", "tasklet", "handler") if s in stages)
            pooled.setdefault(kinds[source], []).append(stages[last])
        for kind, parts in pooled.items():
            series.setdefault(kind, {})[label] = plots.samples_cdf(np.concatenate(parts))
    if not series:
        raise ConfigError("input", list(inputs), "traces with device or timer interrupts")
    return plots.latency_cdf(
        series, "Interrupt latency (interrupts not delivered count to the end)"
    )


def _lockwait(inputs: Sequence[str], sim: Simulate) -> Figure:
    comparison = _comparison(inputs, sim, "lockwait")
    hists: dict[str, Sequence[float]] = {}
    if comparison is not None:
        for design in comparison.designs:
            found = [c["lock_wait"] for c in comparison.curves.get(design, ()) if "lock_wait" in c]
            if found:
                hists[design] = list(np.sum(found, axis=0))
        title = f"{comparison.scenario}: spinlock waits, all seeds"
    else:
        for label, trace in _traces(inputs, "lockwait"):
            m = measure(trace, trace.meta.warmup_ns, None)
            parts = list(m.lock_wait_hist.values())
            hists[label] = list(np.sum(parts, axis=0)) if parts else [0.0]
        title = ""
    if not hists:
        raise ConfigError("input", list(inputs), "results with lock waits")
    return plots.lock_wait_histogram(hists, title)


def _timeline(
    inputs: Sequence[str],
    sim: Simulate,
    window_us: tuple[float, float] | None,
    cpus: Sequence[int] | None,
) -> Figure:
    if len(inputs) > 1:
        raise ConfigError("input", list(inputs), "one saved trace for plot timeline")
    if inputs:
        ((_, trace),) = _traces(inputs, "timeline")
        if window_us is None:
            start = trace.meta.warmup_ns or 1_000_000
            window_us = (start / 1000.0, start / 1000.0 + 200.0)
    else:
        if sim.scenario is None:
            raise ConfigError("--scenario", None, "a scenario to run, or a trace file")
        window_us = window_us or (1000.0, 1200.0)
        design = sim.designs[0] if sim.designs else None
        if len(sim.designs) > 1:
            raise ConfigError("--design", sim.designs, "one design for plot timeline")
        result = run(
            sim.scenario,
            design=design,
            seed=sim.seed,
            duration_ms=window_us[1] / 1000.0,
            params=sim.params,
        )
        trace = result.trace
    start, end = (round(w * 1000) for w in window_us)
    return plots.timeline(trace, start, end, cpus)


def _sweep(inputs: Sequence[str], x: str | None, metric: str | None) -> Figure:
    from ..runner.sweep import summarize

    if len(inputs) != 1 or not inputs[0].endswith(".parquet"):
        raise ConfigError("input", list(inputs), "one sweep rows file (.parquet, from sweep -o)")
    rows = load_input(inputs[0])
    if isinstance(rows, Trace | Comparison):
        raise ConfigError("input", inputs[0], "a sweep's rows (sweep -o), not a trace")
    columns = list(rows.columns)
    if "config" not in columns or "digest" not in columns:
        raise ConfigError("input", inputs[0], "a sweep's rows (sweep -o)")
    grid = columns[columns.index("config") + 1 : columns.index("digest")]
    x = x or (grid[0] if grid else None)
    if x not in grid:
        raise ConfigError("--x", x, "one of the swept parameters: " + ", ".join(grid))
    summary = summarize(rows, grid)
    available = sweep_metrics(summary, grid)
    metric = metric or next((m for m in ("idle.steal_pct", *available) if m in available), None)
    if metric not in available:
        raise ConfigError("--metric", metric, "one of " + ", ".join(available))
    assert metric is not None and x is not None
    return plots.sweep_curves(summary, x, metric, by=["design", *[g for g in grid if g != x]])


def save_figure(fig: Figure, path: str) -> None:
    """PNG or SVG, by the name's extension."""
    fig.savefig(path, dpi=110)


def check_output(path: str | None) -> str:
    """``-o``: a .png or .svg path in a writable folder."""
    import os

    if path is None or not path.endswith(SUFFIXES):
        raise ConfigError("-o", path, "a path ending in .png or .svg")
    folder = Path(path).parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise ConfigError("-o", path, f"a path in a writable folder ({folder} is not one)")
    return path


def parse_window(text: str | None) -> tuple[float, float] | None:
    """``--window-us START:END``."""
    if text is None:
        return None
    try:
        a, b = (float(v) for v in text.split(":"))
    except ValueError:
        raise ConfigError("--window-us", text, "START:END in us, e.g. 1000:1200") from None
    if not 0 <= a < b:
        raise ConfigError("--window-us", text, "0 <= START < END")
    return a, b


def parse_cpus(text: str | None) -> list[int] | None:
    """``--cpus 0-3,8``."""
    if text is None:
        return None
    out: list[int] = []
    try:
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            out += list(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise ConfigError("--cpus", text, "CPU numbers and ranges, e.g. 0-3,8") from None
    return out


__all__ = ["KINDS", "Simulate", "check_output", "figure", "load_input", "save_figure"]
