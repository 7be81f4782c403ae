"""``taskletsim validate TRACE``: fit a host to a trace, simulate it with the design the trace
came from, and set what was measured beside what the model gives, metric by metric.

The host is fitted as ``taskletsim fit`` fits it (:func:`taskletsim.fit.host.fit_host`);
the fitted file is simulated on several seeds (:func:`taskletsim.runner.compare.compare`);
the trace is measured over its own window with the same figures a comparison reads
(:func:`taskletsim.runner.summary.measured_summary`). A row is flagged where the
measurement falls outside the simulated 95% confidence interval (or differs from a
figure every seed gave alike).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from .core.config import ConfigError
from .core.trace import Trace
from .designs.base import get_design
from .fit.host import fit_host
from .fitted_host import host_document
from .kernel.seam import design_hosts
from .metrics.common import is_linux_host
from .metrics.measure import measure
from .runner.compare import compare
from .runner.stats import Estimate
from .runner.summary import measured_summary


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
    if is_linux_host(trace.meta):
        raise ConfigError(
            "trace", origin, "a Xen host's trace (fitting a Linux host's trace is not built yet)"
        )
    chosen = design or trace.meta.design or "xen-4.4-global"
    hosts = design_hosts(get_design(chosen))
    if "xen" not in hosts:
        raise ConfigError(
            "design",
            chosen,
            f"a design the trace's xen host can run (it runs on {', '.join(hosts)})",
        )
    name = get_design(chosen).name
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
