"""``taskletsim validate TRACE``: fit a host to a trace, simulate it with the design the trace
came from, and set what was measured beside what the model gives, metric by metric.

The host is fitted as ``taskletsim fit`` fits it (:func:`taskletsim.fit.host.fit_host`);
the fitted file is simulated on several seeds (:func:`taskletsim.runner.compare.compare`);
the trace is measured over its own window with the same figures a comparison reads
(:func:`taskletsim.runner.summary.measured_summary`). A row is flagged where the
measurement falls outside the simulated 95% confidence interval (or differs from a
figure every seed gave alike).

A Linux host's trace is simulated recording only the event kinds its source records,
and both sides are measured alike (:func:`recorded_summary`, with the interrupts a
capture does not see taken out of the model's trace: :func:`as_recorded`).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tomli_w

from .core.config import ConfigError, check_seeds
from .core.events import EventKind
from .core.trace import Trace
from .designs.base import get_design
from .fit.durations import paired_rows
from .fit.host import fit_host
from .fitted_host import host_document
from .kernel.seam import design_hosts
from .metrics.common import is_linux_host
from .metrics.cputime import CpuTimeTracker, cpu_times
from .metrics.measure import measure
from .metrics.runstates import class_times
from .runner.compare import compare
from .runner.single import run_spec
from .runner.spec import RunSpec
from .runner.stats import Estimate
from .runner.summary import linux_summary, measured_summary


@dataclass(frozen=True)
class ValidationRow:
    """One figure: measured on the trace, and simulated on the fitted host."""

    metric: str
    measured: float
    simulated: Estimate

    @property
    def outside(self) -> bool:
        """Whether the measurement falls outside the simulated 95% CI."""
        sim = self.simulated
        if math.isnan(sim.ci95):
            return False
        return abs(self.measured - sim.mean) > sim.ci95


@dataclass(frozen=True)
class Validation:
    """A trace set beside the model fitted to it."""

    origin: str
    design: str
    seeds: tuple[int, ...]
    host: dict[str, object]
    """The fitted host file, as written by ``taskletsim fit``."""
    rows: tuple[ValidationRow, ...]

    @property
    def flagged(self) -> tuple[ValidationRow, ...]:
        """The rows whose measurement falls outside the simulated CI."""
        return tuple(r for r in self.rows if r.outside)


def validate(
    trace: Trace,
    design: str | None = None,
    seeds: Iterable[int] | int = 3,
    topology: tuple[int, int, int] | None = None,
    executor: Executor | None = None,
) -> Validation:
    """Fit a host to ``trace``, simulate it with ``design`` (default: the trace's) on
    ``seeds``, and set the trace's figures beside the simulated ones."""
    source = trace.meta.source
    origin = f"{source['tool']} {source['file']}" if source else f"{trace.meta.scenario} run"
    host = "linux" if is_linux_host(trace.meta) else "xen"
    chosen = design or trace.meta.design or ("linux" if host == "linux" else "xen-4.4-global")
    hosts = design_hosts(get_design(chosen))
    if host not in hosts:
        raise ConfigError(
            "design",
            chosen,
            f"a design the trace's {host} host can run (it runs on {', '.join(hosts)})",
        )
    name = get_design(chosen).name
    if host == "linux":
        return _validate_linux(trace, origin, name, check_seeds(seeds), topology)
    fitted = fit_host(trace, topology)
    doc = host_document(trace, fitted, name, "fitted")
    end = trace.meta.duration_ns or int(trace.time_ns.max(initial=0)) + 1
    warmup = trace.meta.warmup_ns
    measured = measured_summary(measure(trace, warmup, end))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fitted.toml"
        path.write_text(tomli_w.dumps(doc))
        comparison = compare(
            str(path),
            [name],
            seeds,
            executor=executor,
            duration_ms=end / 1e6,
            warmup_ms=warmup / 1e6,
        )
    simulated = comparison.estimates[name]
    rows = tuple(
        ValidationRow(metric, measured[metric], simulated[metric])
        for metric in sorted(set(measured) & set(simulated))
    )
    return Validation(origin, name, comparison.seeds, doc, rows)


def _validate_linux(
    trace: Trace,
    origin: str,
    design: str,
    seeds: tuple[int, ...],
    topology: tuple[int, int, int] | None,
) -> Validation:
    """A Linux host's trace: the fitted host simulated on each seed, recording only the
    kinds the trace's source records, and both measured alike (:func:`recorded_summary`):
    a capture has no ``IRQ_RAISE``, so the model is not measured by one either."""
    fitted = fit_host(trace, topology)
    doc = host_document(trace, fitted, design, "fitted")
    end = trace.meta.duration_ns or int(trace.time_ns.max(initial=0)) + 1
    warmup = trace.meta.warmup_ns
    source = trace.meta.source
    kinds = (
        tuple(EventKind)
        if source is None
        else tuple(EventKind[k] for k in source.get("kinds", ()) if k in EventKind.__members__)
    )
    measured = recorded_summary(trace, kinds, warmup, end)
    sims = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fitted.toml"
        path.write_text(tomli_w.dumps(doc))
        for seed in seeds:
            spec = RunSpec(str(path), design, seed, duration_ms=end / 1e6, warmup_ms=warmup / 1e6)
            result = run_spec(spec, kinds)
            seen = as_recorded(result.trace, {i.kind for i in trace.meta.irq})
            sims.append(recorded_summary(seen, kinds, warmup, end))
    common = sorted(set(measured).intersection(*sims))
    rows = tuple(ValidationRow(k, measured[k], Estimate.of(s[k] for s in sims)) for k in common)
    return Validation(origin, design, seeds, doc, rows)


def as_recorded(trace: Trace, irq_kinds: set[str]) -> Trace:
    """``trace`` without the interrupts of sources of a kind a capture does not record
    (``irq_handler_entry`` fires for device interrupts, not for IPIs: their time is
    the interrupted task's in the capture, so it is in the model's too)."""
    info = trace.meta.irq
    dropped = [s for s, i in enumerate(info) if i.kind not in irq_kinds]
    if not dropped:
        return trace
    irq = np.isin(
        trace.kind,
        [
            int(k)
            for k in (
                EventKind.IRQ_RAISE,
                EventKind.IRQ_ENTRY,
                EventKind.IRQ_EXIT,
                EventKind.IRQ_COALESCE,
            )
        ],
    )
    keep = ~(irq & np.isin(trace.subject, dropped))
    return Trace({k: v[keep] for k, v in trace.columns.items()}, trace.names, trace.meta)


def recorded_summary(
    trace: Trace, kinds: tuple[EventKind, ...], start: int, end: int
) -> dict[str, float]:
    """The figures of a Linux host's trace that ``kinds`` allow: per device vector its
    handler runs per second and their mean and p99 duration (``IRQ_ENTRY`` to
    ``IRQ_EXIT``), per softirq its runs per second and mean duration, and with the
    scheduler's events the CPU time accounting and each task class's run-queue delay
    (:func:`taskletsim.runner.summary.linux_summary`)."""
    have = set(kinds)
    window_s = (end - start) / 1e9

    def per_s(count: float) -> float:
        return count / window_s if window_s > 0 else 0.0

    out: dict[str, float] = {}
    spans = (
        ("irq", EventKind.IRQ_ENTRY, EventKind.IRQ_EXIT, [i.name for i in trace.meta.irq]),
        (
            "softirq",
            EventKind.SOFTIRQ_ENTRY,
            EventKind.SOFTIRQ_EXIT,
            [n.removesuffix("_SOFTIRQ") for n in trace.meta.softirqs],  # as a capture says
        ),
    )
    devices = {i.name for i in trace.meta.irq if i.kind == "device"}
    for what, entry, exit_, names in spans:
        if not {entry, exit_} <= have:
            continue
        for name, span in _windowed_spans(trace, entry, exit_, start, end).items():
            label = names[name] if 0 <= name < len(names) else str(name)
            if what == "irq" and label not in devices:
                continue
            out[f"{what}.{label}.per_s"] = per_s(len(span))
            out[f"{what}.{label}.mean_ns"] = float(span.mean())
            if what == "irq":
                out[f"{what}.{label}.p99_ns"] = float(np.percentile(span, 99))
    if set(CpuTimeTracker.KINDS) <= have:
        workload = {n: v.workload for n, v in trace.meta.vcpus.items()}
        cpu = cpu_times(trace, start, end)
        out.update(linux_summary(cpu, class_times(trace, start, end), workload, per_s))
    return out


def _windowed_spans(
    trace: Trace, entry: EventKind, exit_: EventKind, start: int, end: int
) -> dict[int, np.ndarray]:
    """Per subject, each entry in ``[start, end)`` and its time to the next exit of that
    subject on that CPU (wall time)."""
    first, second = paired_rows(trace, entry, exit_)
    at = trace.time_ns[first]
    inside = (at >= start) & (at < end)
    first, second = first[inside], second[inside]
    subject = trace.subject[first]
    span = trace.time_ns[second].astype(np.int64) - trace.time_ns[first]
    return {s: span[subject == s] for s in np.unique(subject).tolist()}


def format_validation(v: Validation) -> str:
    """The side-by-side table, a ``*`` where the measurement is outside the CI."""
    seeds = ", ".join(str(s) for s in v.seeds)
    lines = [
        f"{v.origin} against design {v.design} on the fitted host, seeds {seeds}"
        " (* measured outside the simulated 95% CI)",
        "",
        f"{'metric':<52} {'measured':>14} {'simulated':>24}",
        "-" * 92,
    ]
    for r in v.rows:
        sim = f"{r.simulated.mean:,.4g} +-{r.simulated.ci95:,.3g}"
        flag = " *" if r.outside else ""
        lines.append(f"{r.metric:<52} {r.measured:>14,.4g} {sim:>24}{flag}")
    lines.append("")
    lines.append(f"{len(v.flagged)} of {len(v.rows)} figures outside the simulated CI")
    return "\n".join(lines)
