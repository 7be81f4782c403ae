"""Figures (matplotlib): what a reader of a report or a patch review looks at.

Each function returns a :class:`matplotlib.figure.Figure` drawn with the Agg
backend (no display needed); save it with ``fig.savefig("x.png")`` or
``.svg``. Titles, axis labels with units and legends are written for a reader
who has not seen the code. matplotlib comes with the ``plot`` extra.

- :func:`latency_cdf`: interrupt latency CDF per design, log time axis;
- :func:`steal_bars`: steal and hypervisor share per guest class, CI whiskers;
- :func:`lock_wait_histogram`: contended lock waits per design, log bins;
- :func:`timeline`: what each CPU did in a short window;
- :func:`sweep_curves`: a metric against a swept parameter, CI bands.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.events import EventKind
from ..core.trace import Trace
from ..metrics.locks import WAIT_EDGES_NS
from ..runner.compare import Comparison
from ..runner.summary import CURVE_PROBABILITIES

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Cdf = tuple[np.ndarray, np.ndarray]
"""Latencies (ns, ascending) and the fraction of interrupts at or below each."""

KIND_TITLES = {"device": "passthrough MSIs", "timer": "guest timer ticks"}


def _figure(width: float = 8.0, height: float = 4.5, ncols: int = 1) -> tuple[Figure, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


def samples_cdf(values: np.ndarray) -> Cdf:
    """The empirical CDF of latency samples."""
    ordered = np.sort(np.asarray(values, dtype=float))
    return ordered, np.arange(1, len(ordered) + 1) / max(len(ordered), 1)


def curves_cdf(curves: Sequence[Mapping[str, Sequence[float]]], key: str) -> Cdf | None:
    """The CDF of ``key`` (``latency.KIND``) averaged over seeds' quantile curves
    (Vincent averaging: the mean of each quantile)."""
    found = [np.asarray(c[key], dtype=float) for c in curves if key in c]
    if not found:
        return None
    return np.mean(found, axis=0), CURVE_PROBABILITIES


def latency_cdf(
    series: Mapping[str, Mapping[str, Cdf]], title: str = "Interrupt latency"
) -> Figure:
    """``series[kind][label]``: one panel per kind of interrupt source (device, timer),
    one line per label (design), latency on a log axis."""
    kinds = [k for k in ("device", "timer") if k in series] + [
        k for k in series if k not in ("device", "timer")
    ]
    fig, axes = _figure(5.0 * max(len(kinds), 1), 4.2, max(len(kinds), 1))
    for ax, kind in zip(axes, kinds, strict=False):
        for label, (values, probs) in series[kind].items():
            keep = values > 0
            ax.step(values[keep] / 1000.0, probs[keep], where="post", label=label)
        ax.set_xscale("log")
        _plain_log_labels(ax)
        ax.set_ylim(0, 1.005)
        ax.set_xlabel("latency from raise to vIRQ injection, us (log)")
        ax.set_ylabel("fraction of interrupts at or below")
        ax.set_title(KIND_TITLES.get(kind, kind))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(title)
    return fig


def _plain_log_labels(ax: Axes) -> None:
    """Log-axis tick labels as plain numbers (``2``, ``50``), not ``2 x 10^0``."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda _v, _pos: ""))


def steal_bars(comparison: Comparison, groups: Sequence[str] | None = None) -> Figure:
    """Per guest class: steal (% of the window) and hypervisor share of RUNNING, one bar
    per design, whiskers the 95% CI over the seeds."""
    est = comparison.estimates
    found = sorted({k.split(".")[0] for e in est.values() for k in e if k.endswith(".steal_pct")})
    chosen = list(groups) if groups else found
    fig, axes = _figure(10.0, 4.2, 2)
    width = 0.8 / max(len(comparison.designs), 1)
    x = np.arange(len(chosen))
    for panel, (metric, label) in enumerate(
        (("steal_pct", "steal, % of time"), ("hv_pct", "hypervisor, % of RUNNING"))
    ):
        ax = axes[panel]
        for i, design in enumerate(comparison.designs):
            means, errors = [], []
            for group in chosen:
                e = est[design].get(f"{group}.{metric}")
                means.append(e.mean if e else 0.0)
                errors.append(0.0 if e is None or math.isnan(e.ci95) else e.ci95)
            ax.bar(x + (i - (len(comparison.designs) - 1) / 2) * width, means, width,
                   yerr=errors, capsize=3, label=design)  # fmt: skip
        ax.set_xticks(x, [f"{g} guests" for g in chosen])
        ax.set_ylabel(label)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].set_title("time guests were ready but not running")
    axes[1].set_title("time spent in Xen while RUNNING")
    axes[1].legend(fontsize="small")
    seeds = len(comparison.seeds)
    fig.suptitle(f"{comparison.scenario}: mean over {seeds} seed(s), 95% CI")
    return fig


def lock_wait_histogram(hists: Mapping[str, Sequence[float]], title: str = "") -> Figure:
    """Contended acquisitions by wait (bins of ``WAIT_EDGES_NS``), one line per label."""
    fig, axes = _figure(8.0, 4.2)
    ax: Axes = axes[0]
    edges = np.maximum(WAIT_EDGES_NS, 0.5) / 1000.0
    used = np.zeros(len(edges) - 1, dtype=bool)
    for label, counts in hists.items():
        c = np.asarray(counts, dtype=float)
        used |= c > 0
        ax.stairs(c, edges, label=f"{label} ({int(c.sum()):,} waits)")
    ax.set_xscale("log")
    if used.any():
        first, last = np.flatnonzero(used)[[0, -1]]
        ax.set_xlim(edges[max(first - 3, 0)], edges[min(last + 4, len(edges) - 1)])
    _plain_log_labels(ax)
    ax.set_xlabel("wait for the lock, us (log bins, ten a decade)")
    ax.set_ylabel("contended acquisitions")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(title or "Spinlock waits (contended acquisitions, every lock)")
    return fig


_SPANS = (
    ("guest", EventKind.VM_ENTRY, EventKind.VM_EXIT, "tab:green"),
    ("hard IRQ", EventKind.IRQ_ENTRY, EventKind.IRQ_EXIT, "tab:red"),
    ("softirq", EventKind.SOFTIRQ_ENTRY, EventKind.SOFTIRQ_EXIT, "tab:orange"),
    ("tasklet", EventKind.TASKLET_ENTRY, EventKind.TASKLET_EXIT, "tab:purple"),
)


def timeline(trace: Trace, start_ns: int, end_ns: int, cpus: Sequence[int] | None = None) -> Figure:
    """What each CPU did in ``[start_ns, end_ns)``: in the guest, in a hard IRQ, in a
    softirq, in a tasklet, spinning on a lock (the rest: Xen's other work or idle)."""
    shown = list(cpus) if cpus is not None else sorted(set(trace.cpu.tolist()))
    row_of = {c: i for i, c in enumerate(shown)}
    fig, axes = _figure(10.0, 1.4 + 0.22 * len(shown))
    ax: Axes = axes[0]
    time, cpu, kind = trace.time_ns, trace.cpu, trace.kind
    for name, begin, end, colour in _SPANS:
        spans: dict[int, list[tuple[float, float]]] = {}
        opened: dict[int, list[int]] = {}
        for row in trace.of_kinds(begin, end).tolist():
            c = int(cpu[row])
            if kind[row] == begin:
                opened.setdefault(c, []).append(int(time[row]))
            elif opened.get(c):
                a = opened[c].pop()
                _clip(spans, c, a, int(time[row]), start_ns, end_ns)
        for c, starts in opened.items():
            for a in starts:
                _clip(spans, c, a, end_ns, start_ns, end_ns)
        _draw(ax, spans, row_of, colour, 0.7 if name == "guest" else 0.5)
    acquire = trace.rows(EventKind.LOCK_ACQUIRE)
    since = trace.arg[acquire]
    spins: dict[int, list[tuple[float, float]]] = {}
    for row, s in zip(acquire[since >= 0].tolist(), since[since >= 0].tolist(), strict=True):
        _clip(spins, int(cpu[row]), int(s), int(time[row]), start_ns, end_ns)
    _draw(ax, spins, row_of, "black", 0.3)
    ax.set_yticks(range(len(shown)), [f"CPU {c}" for c in shown], fontsize="x-small")
    ax.set_ylim(-0.6, len(shown) - 0.4)
    ax.invert_yaxis()
    ax.set_xlim(start_ns / 1000.0, end_ns / 1000.0)
    source = trace.meta.source
    ax.set_xlabel("time since the capture's first event, us" if source else "simulated time, us")
    from matplotlib.patches import Patch

    handles = [Patch(color=c, label=n) for n, _, _, c in _SPANS]
    handles.append(Patch(color="black", label="spinning on a lock"))
    fig.legend(handles=handles, loc="outside lower center", fontsize="x-small", ncols=5)
    design = f", {trace.meta.design}" if trace.meta.design else ""
    what = f"{source['tool']} {source['file']}" if source else f"{trace.meta.scenario}{design}"
    ax.set_title(f"{what}: what each CPU was doing")
    return fig


def _clip(
    spans: dict[int, list[tuple[float, float]]], c: int, a: int, b: int, lo: int, hi: int
) -> None:
    a, b = max(a, lo), min(b, hi)
    if b > a:
        spans.setdefault(c, []).append((a / 1000.0, (b - a) / 1000.0))


def _draw(
    ax: Axes,
    spans: dict[int, list[tuple[float, float]]],
    row_of: Mapping[int, int],
    colour: str,
    height: float,
) -> None:
    for c, bars in spans.items():
        if c not in row_of:
            continue
        ax.broken_barh(bars, (row_of[c] - height / 2, height), color=colour)


def sweep_curves(
    summary: pd.DataFrame, x: str, metric: str, by: Sequence[str] = ("design",)
) -> Figure:
    """``metric`` against the swept parameter ``x``: one line per value of ``by``
    (design, and any other swept parameter), the band its 95% CI over the seeds."""
    fig, axes = _figure(8.0, 4.5)
    ax: Axes = axes[0]
    keys = [k for k in by if k in summary.columns and k != x]
    groups = summary.groupby(keys, sort=False, dropna=False) if keys else [((), summary)]
    for key, group in groups:
        g = group.sort_values(x)
        xs = g[x].to_numpy(dtype=float)
        mean = g[metric].to_numpy(dtype=float)
        half = g.get(f"{metric}.ci95")
        label = ", ".join(
            f"{k}={v}" if k != "design" else str(v)
            for k, v in zip(keys, key if isinstance(key, tuple) else (key,), strict=False)
        )
        (line,) = ax.plot(xs, mean, marker="o", label=label or metric)
        if half is not None:
            h = np.nan_to_num(half.to_numpy(dtype=float))
            ax.fill_between(xs, mean - h, mean + h, color=line.get_color(), alpha=0.2)
    ax.set_xlabel(x)
    ax.set_ylabel(metric)
    if len(summary) and (summary[x].to_numpy(dtype=float) > 0).all():
        values = summary[x].to_numpy(dtype=float)
        if values.max() / values.min() >= 20:
            ax.set_xscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(f"{metric} against {x}: mean over seeds, band = 95% CI")
    return fig
