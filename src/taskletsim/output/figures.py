"""``taskletsim plot``'s figures, drawn from data: saved results or a run's.

:func:`figure` draws from what it is given and never runs a simulation: a
:class:`~taskletsim.runner.compare.Comparison`, labelled traces, or a sweep's
rows. :func:`load_inputs` reads them from files by their extension:
``.parquet`` a saved trace (``run --save-trace``) or a sweep's rows
(``sweep -o``), ``.json`` a ``compare --json`` document. A figure made from a
run (``taskletsim plot --scenario``) gets its data from the command, which
runs what :data:`SIMULATED` says the figure needs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..core.config import ConfigError
from ..core.trace import Trace
from ..metrics.measure import measure
from ..runner.compare import Comparison
from . import plots
from .documents import comparison_from_document
from .tables import sweep_metrics

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

KINDS = ("latency", "steal", "lockwait", "timeline", "sweep")
"""The figures ``taskletsim plot`` draws."""

SUFFIXES = (".png", ".svg")


SIMULATED = {"latency": "comparison", "lockwait": "comparison", "steal": "comparison",
             "timeline": "trace"}  # fmt: skip
"""What a figure made from a run needs: a comparison over seeds, or one run's trace."""


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


def load_inputs(
    kind: str, inputs: Sequence[str]
) -> Comparison | list[tuple[str, Trace]] | pd.DataFrame:
    """The data of figure ``kind`` from its input files: one compare document, or saved
    traces (labelled by their design), or (``sweep``) one sweep's rows."""
    if not inputs:
        raise ConfigError("input", [], f"input files for plot {kind}, or a scenario to run")
    if kind == "sweep":
        if len(inputs) != 1 or not inputs[0].endswith(".parquet"):
            raise ConfigError(
                "input", list(inputs), "one sweep rows file (.parquet, from sweep -o)"
            )
        rows = load_input(inputs[0])
        if isinstance(rows, Trace | Comparison):
            raise ConfigError("input", inputs[0], "a sweep's rows (sweep -o), not a trace")
        return rows
    if len(inputs) == 1 and inputs[0].endswith(".json") and kind != "timeline":
        item = load_input(inputs[0])
        assert isinstance(item, Comparison)
        return item
    if kind == "steal":
        raise ConfigError("input", list(inputs), "one compare --json document for plot steal")
    if kind == "timeline" and len(inputs) > 1:
        raise ConfigError("input", list(inputs), "one saved trace for plot timeline")
    return _traces(inputs, kind)


def figure(
    kind: str,
    data: Comparison | Sequence[tuple[str, Trace]] | pd.DataFrame,
    *,
    window_us: tuple[float, float] | None = None,
    cpus: Sequence[int] | None = None,
    x: str | None = None,
    metric: str | None = None,
) -> Figure:
    """The figure ``kind`` (one of :data:`KINDS`) of ``data``: a comparison, labelled
    traces, or (``sweep``) a sweep's rows."""
    import pandas as pd

    if kind not in KINDS:
        raise ConfigError("figure", kind, "one of " + ", ".join(KINDS))
    if isinstance(data, Comparison):
        of_comparison = {
            "latency": _latency_of_comparison,
            "lockwait": _lockwait_of_comparison,
            "steal": plots.steal_bars,
        }
        if kind not in of_comparison:
            raise ConfigError("input", data.scenario, f"a saved trace for plot {kind}")
        return of_comparison[kind](data)
    if isinstance(data, pd.DataFrame):
        if kind != "sweep":
            raise ConfigError("input", "rows", f"traces or a comparison for plot {kind}")
        return _sweep(data, x, metric)
    traces = list(data)
    if kind == "latency":
        return _latency_of_traces(traces)
    if kind == "lockwait":
        return _lockwait_of_traces(traces)
    if kind == "timeline":
        return _timeline(traces, window_us, cpus)
    raise ConfigError("input", [label for label, _ in traces], f"other data for plot {kind}")


def _latency_of_comparison(comparison: Comparison) -> Figure:
    series: dict[str, dict[str, plots.Cdf]] = {}
    for design in comparison.designs:
        for kind in ("device", "timer"):
            cdf = plots.curves_cdf(comparison.curves.get(design, ()), f"latency.{kind}")
            if cdf is not None:
                series.setdefault(kind, {})[design] = cdf
    if not series:
        raise ConfigError("input", comparison.scenario, "a comparison with latency curves")
    seeds = len(comparison.seeds)
    title = f"{comparison.scenario}: interrupt latency, quantiles averaged over {seeds} seed(s)"
    return plots.latency_cdf(series, title)


def _latency_of_traces(traces: Sequence[tuple[str, Trace]]) -> Figure:
    series: dict[str, dict[str, plots.Cdf]] = {}
    for label, trace in traces:
        m = measure(trace, trace.meta.warmup_ns, None)
        kinds = {s.name: s.kind for s in m.meta.irq}
        pooled: dict[str, list[np.ndarray]] = {}
        for source, stages in m.latency_samples(censored=True).items():
            last = next(s for s in ("virq", "tasklet", "handler") if s in stages)
            pooled.setdefault(kinds[source], []).append(stages[last])
        for kind, parts in pooled.items():
            series.setdefault(kind, {})[label] = plots.samples_cdf(np.concatenate(parts))
    if not series:
        labels = [label for label, _ in traces]
        raise ConfigError("input", labels, "traces with device or timer interrupts")
    return plots.latency_cdf(
        series, "Interrupt latency (interrupts not delivered count to the end)"
    )


def _lockwait_of_comparison(comparison: Comparison) -> Figure:
    hists: dict[str, Sequence[float]] = {}
    for design in comparison.designs:
        found = [c["lock_wait"] for c in comparison.curves.get(design, ()) if "lock_wait" in c]
        if found:
            hists[design] = list(np.sum(found, axis=0))
    if not hists:
        raise ConfigError("input", comparison.scenario, "results with lock waits")
    return plots.lock_wait_histogram(hists, f"{comparison.scenario}: spinlock waits, all seeds")


def _lockwait_of_traces(traces: Sequence[tuple[str, Trace]]) -> Figure:
    hists: dict[str, Sequence[float]] = {}
    for label, trace in traces:
        m = measure(trace, trace.meta.warmup_ns, None)
        parts = list(m.lock_wait_hist.values())
        hists[label] = list(np.sum(parts, axis=0)) if parts else [0.0]
    return plots.lock_wait_histogram(hists, "")


def _timeline(
    traces: Sequence[tuple[str, Trace]],
    window_us: tuple[float, float] | None,
    cpus: Sequence[int] | None,
) -> Figure:
    if len(traces) != 1:
        raise ConfigError("input", [label for label, _ in traces], "one trace for plot timeline")
    ((_, trace),) = traces
    if window_us is None:
        start = trace.meta.warmup_ns or 1_000_000
        window_us = (start / 1000.0, start / 1000.0 + 200.0)
    start, end = (round(w * 1000) for w in window_us)
    return plots.timeline(trace, start, end, cpus)


def _sweep(rows: pd.DataFrame, x: str | None, metric: str | None) -> Figure:
    from ..runner.sweep import summarize

    columns = list(rows.columns)
    if "config" not in columns or "digest" not in columns:
        raise ConfigError("input", "rows", "a sweep's rows (sweep -o)")
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


__all__ = [
    "KINDS",
    "SIMULATED",
    "figure",
    "load_input",
    "load_inputs",
    "save_figure",
]
