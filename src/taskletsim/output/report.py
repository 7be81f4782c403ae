"""Reports: a run's JSON summary and lock tables in ``/proc/lock_stat`` and ``xenlockprof`` form.

The JSON schema (``"schema": 1``) is documented in docs/json.md; keys are
only ever added, never renamed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..metrics import STAGES, Latency, LockStats, VcpuTime
from ..metrics.measure import Measurements, measure
from ..runner.result import RunResult

if TYPE_CHECKING:
    import pandas as pd

    from ..runner.compare import Comparison

JSON_SCHEMA = 1


def lock_json(stats: LockStats) -> dict[str, Any]:
    """One lock's entry under ``runs[i].locks``."""
    return {
        "acquisitions": stats.acquisitions,
        "contentions": stats.contentions,
        "bounces": stats.bounces,
        "con_bounces": stats.con_bounces,
        "acquisitions_per_s": stats.acquisitions_per_s,
        "wait_ns": stats.wait.as_dict(),
        "hold_ns": stats.hold.as_dict(),
    }


def measured_from(result: RunResult, start_ns: int | None = None) -> Measurements:
    """The run's measurements from ``start_ns`` (by default its warm-up) to its end."""
    if start_ns is None or start_ns == result.warmup_ns:
        return result.measured()
    if result.measurements is not None:
        raise ValueError(
            f"start_ns={start_ns}: a metrics-only run was measured from its warm-up "
            f"({result.warmup_ns} ns) only"
        )
    return measure(result.trace, start_ns, result.duration_ns)


def run_json(result: RunResult, start_ns: int | None = None) -> dict[str, Any]:
    """One entry of ``runs``: identity, size, the scenario's facts, and the metrics
    (measured from ``start_ns``, by default the run's warm-up)."""
    m = measured_from(result, start_ns)
    doc: dict[str, Any] = {
        "design": result.design,
        "seed": result.seed,
        "duration_ns": result.duration_ns,
        "warmup_ns": m.start_ns,
        "events": m.events,
        "wall_s": result.wall_s,
        "digest": result.digest,
        "truncated": result.truncated,
        **result.info,
        **({"requested_duration_ns": result.requested_duration_ns} if result.truncated else {}),
        "locks": {name: lock_json(s) for name, s in m.locks.items()},
    }
    if m.meta.irq:
        doc["irqs"] = {name: c.as_dict() for name, c in m.irqs.items()}
        doc["irq_latency"] = {
            source: {stage: lat.as_dict() for stage, lat in stages.items()}
            for source, stages in m.irq_latency().items()
        }
    if m.meta.vcpus:
        owners = m.meta.vcpus
        doc["vcpus"] = {
            name: {
                "domain": owners[name].domain,
                "workload": owners[name].workload,
                **t.as_dict(),
                "intervals": {state: i.as_dict() for state, i in t.intervals.items()},
            }
            for name, t in m.vcpus.items()
        }
        doc["domains"] = {name: t.as_dict() for name, t in m.domain_times().items()}
    return doc


def document(scenario: str, params: Mapping[str, Any], runs: Iterable[RunResult]) -> dict[str, Any]:
    """The whole ``--json`` document."""
    return {
        "schema": JSON_SCHEMA,
        "scenario": scenario,
        "params": dict(params),
        "runs": [run_json(r) for r in runs],
    }


def _us(ns: float) -> str:
    return f"{ns / 1000:.2f}"


LOCK_STAT_COLUMNS = (
    "con-bounces",
    "contentions",
    "waittime-min",
    "waittime-max",
    "waittime-total",
    "waittime-avg",
    "acq-bounces",
    "acquisitions",
    "holdtime-min",
    "holdtime-max",
    "holdtime-total",
    "holdtime-avg",
)


def format_lock_stat(stats: Mapping[str, LockStats]) -> str:
    """Lock statistics in the columns of Linux ``/proc/lock_stat`` (times in us)."""
    width = max([len(n) for n in stats] + [len("class name")]) + 1
    head = f"{'class name':>{width}}" + "".join(f" {c:>14}" for c in LOCK_STAT_COLUMNS)
    lines = [head, "-" * len(head)]
    for name, s in stats.items():
        cells = (
            str(s.con_bounces),
            str(s.contentions),
            _us(s.wait.min),
            _us(s.wait.max),
            _us(s.wait.total),
            _us(s.wait.mean),
            str(s.bounces),
            str(s.acquisitions),
            _us(s.hold.min),
            _us(s.hold.max),
            _us(s.hold.total),
            _us(s.hold.mean),
        )
        lines.append(f"{name + ':':>{width}}" + "".join(f" {c:>14}" for c in cells))
    return "\n".join(lines)


def format_xenlockprof(stats: Mapping[str, LockStats], profiling_ns: int) -> str:
    """Lock statistics as Xen's ``tools/misc/xenlockprof`` prints them.

    ``lock`` is acquisitions and time held, ``block`` contentions and time
    waited, in seconds.
    """
    lines = []
    locked = blocked = 0.0
    for name, s in stats.items():
        held_s = s.hold.total / 1e9
        waited_s = s.wait.total / 1e9
        locked += held_s
        blocked += waited_s
        owner, _, field = name.rpartition(":")
        label = f"domain {owner} lock {field}" if owner else f"global lock {name}"
        lines.append(
            f"{label:<50}: lock:{s.acquisitions:12d}({held_s:20.9f}s), "
            f"block:{s.contentions:12d}({waited_s:20.9f}s)"
        )
    lines.append(f"total profiling time: {profiling_ns / 1e9:20.9f}s")
    lines.append(f"total locked time:    {locked:20.9f}s")
    lines.append(f"total blocked time:   {blocked:20.9f}s")
    return "\n".join(lines)


def format_latency(latency: Mapping[str, Mapping[str, Latency]]) -> str:
    """Interrupt latency per source and stage, in us."""
    head = f"{'source':<28} {'stage':<8} {'count':>8}" + "".join(
        f" {c:>9}" for c in ("mean", "p50", "p90", "p99", "p99.9", "max")
    )
    lines = [head + "   (us)", "-" * len(head)]
    for source, stages in latency.items():
        for stage in STAGES:
            if stage not in stages:
                continue
            lat = stages[stage]
            cells = (lat.mean_ns, lat.p50_ns, lat.p90_ns, lat.p99_ns, lat.p999_ns, lat.max_ns)
            lines.append(
                f"{source:<28} {stage:<8} {lat.count:>8}" + "".join(f" {_us(c):>9}" for c in cells)
            )
    return "\n".join(lines)


def format_run(result: RunResult) -> str:
    """A readable report of one run: its facts, lock tables and interrupt latency."""
    m = result.measured()
    stats = {n: s for n, s in m.locks.items() if s.acquisitions}
    head = [
        f"scenario {result.scenario}"
        + (f", design {result.design}" if result.design else "")
        + f", seed {result.seed}, {result.duration_ns / 1e6:g} ms simulated, "
        f"{m.events} events in {result.wall_s:.2f} s",
    ]
    if result.truncated:
        head.append("  " + truncated_note(result))
    for key, value in result.info.items():
        head.append(f"  {key}: {value:.4g}" if isinstance(value, float) else f"  {key}: {value}")
    for name, s in stats.items():
        head.append(
            f"  lock {name}: {s.acquisitions_per_s:,.0f} acquisitions/s, "
            f"{100 * s.contentions / max(s.acquisitions, 1):.1f}% contended, "
            f"mean wait {s.wait.total / max(s.acquisitions, 1):.1f} ns over all acquisitions"
        )
    parts = [
        *head,
        "",
        "lock_stat:",
        format_lock_stat(stats),
        "",
        "xenlockprof:",
        format_xenlockprof(stats, result.duration_ns),
    ]
    if m.meta.irq:
        parts += ["", "interrupt latency:", format_latency(m.irq_latency())]
    if m.meta.vcpus:
        times = m.vcpus
        parts += ["", "runstates:", format_runstates(times)]
        parts += ["", "runstate intervals (xenalyze-style):", format_intervals(times)]
    return "\n".join(parts)


def format_intervals(times: Mapping[str, VcpuTime]) -> str:
    """Per vCPU and runstate: interval count, total ms, p5/p50/p95 us."""
    head = f"{'vcpu':<14} {'state':<9} {'count':>7} {'total ms':>10}"
    head += "".join(f" {c:>9}" for c in ("p5 us", "p50 us", "p95 us"))
    lines = [head, "-" * len(head)]
    for name, t in times.items():
        for state, i in t.intervals.items():
            if not i.count:
                continue
            lines.append(
                f"{name:<14} {state:<9} {i.count:>7} {i.total_ns / 1e6:>10.3f}"
                + "".join(f" {_us(v):>9}" for v in (i.p5_ns, i.p50_ns, i.p95_ns))
            )
    return "\n".join(lines)


def format_runstates(times: Mapping[str, VcpuTime]) -> str:
    """Per vCPU: ms in each runstate, steal % and hypervisor % of RUNNING."""
    head = f"{'vcpu':<14}" + "".join(
        f" {c:>11}" for c in ("running ms", "runnable ms", "blocked ms", "offline ms")
    )
    head += f" {'steal %':>8} {'hv % of run':>11}"
    lines = [head, "-" * len(head)]
    for name, t in times.items():
        cells = (t.running_ns, t.runnable_ns, t.blocked_ns, t.offline_ns)
        lines.append(
            f"{name:<14}"
            + "".join(f" {c / 1e6:>11.3f}" for c in cells)
            + f" {t.steal_pct:>8.3f} {t.hv_pct:>11.2f}"
        )
    return "\n".join(lines)


def format_comparison(results: list[RunResult]) -> str:
    """Designs side by side: every lock's traffic, and latency per source kind and stage."""
    rows = []
    lock_names: list[str] = []
    per_run = []
    for r in results:
        stats = r.measured().locks
        per_run.append(stats)
        for name, s in stats.items():
            if s.acquisitions and name not in lock_names:
                lock_names.append(name)
    width = max([len(str(r.design)) for r in results] + [6])
    head = f"{'design':<{width}} {'lock':<22} {'acq/s':>10} {'contended':>9} "
    head += f"{'wait us/s':>10} {'bounces':>8}"
    rows += [head, "-" * len(head)]
    for r, stats in zip(results, per_run, strict=True):
        for name in lock_names:
            found = stats.get(name)
            if found is None or not found.acquisitions:
                rows.append(f"{r.design!s:<{width}} {name:<22} {0:>10} {'-':>9} {'-':>10} {'-':>8}")
                continue
            s = found
            seconds = s.window_ns / 1e9
            rows.append(
                f"{r.design!s:<{width}} {name:<22} {s.acquisitions_per_s:>10,.0f} "
                f"{100 * s.contentions / s.acquisitions:>8.1f}% "
                f"{s.wait.total / 1e3 / seconds:>10.1f} {s.bounces:>8}"
            )
    rows.append("")
    head = f"{'design':<{width}} {'sources':<8} {'stage':<8} {'count':>8}" + "".join(
        f" {c:>9}" for c in ("mean", "p50", "p99", "p99.9", "max")
    )
    rows += [head + "   (us)", "-" * len(head)]
    for r in results:
        for kind, stages in r.measured().latency_by_kind().items():
            for stage in STAGES:
                if stage not in stages:
                    continue
                lat = stages[stage]
                cells = (lat.mean_ns, lat.p50_ns, lat.p99_ns, lat.p999_ns, lat.max_ns)
                rows.append(
                    f"{r.design!s:<{width}} {kind:<8} {stage:<8} {lat.count:>8}"
                    + "".join(f" {_us(c):>9}" for c in cells)
                )
    if all(r.measured().meta.vcpus for r in results):
        rows += ["", f"{'design':<{width}} {'guests':<12} {'steal %':>8} {'hv % of run':>11}"]
        rows.append("-" * len(rows[-1]))
        for r in results:
            m = r.measured()
            groups = {**m.class_times(), **m.domain_times()}
            for name, t in groups.items():
                rows.append(
                    f"{r.design!s:<{width}} {name:<12} {t.steal_pct:>8.3f} {t.hv_pct:>11.2f}"
                )
    return "\n".join(rows)


def metric_order(name: str) -> tuple[int, str]:
    for rank, prefix in enumerate(
        (
            "lock.tasklet_lock.",
            "idle.",
            "busy.",
            "mixed.",
            "offered_",
            "arrived_",
            "raised_",
            "coalesced_",
            "held_",
            "polled_",
            "virq_coalesced_",
            "delivered_",
            "latency.device.",
            "latency.timer.",
            "lock.",
        )
    ):
        if name.startswith(prefix):
            return rank, name
    return 99, name


def format_number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if magnitude < 0.01 else f"{value:.2f}"


def compare_cells(comparison: Comparison) -> tuple[list[str], dict[str, list[str]]]:
    """The metric names in report order and, per design, each metric's cell:
    ``mean +-ci95`` and, after the first design, ``(xRATIO)``; ``-`` where absent."""
    names = sorted({m for e in comparison.estimates.values() for m in e}, key=metric_order)
    cells: dict[str, list[str]] = {}
    for i, design in enumerate(comparison.designs):
        column = []
        for name in names:
            est = comparison.estimates[design].get(name)
            if est is None:
                column.append("-")
                continue
            text = format_number(est.mean) + (
                "" if math.isnan(est.ci95) else f" +-{format_number(est.ci95)}"
            )
            if i:
                text += f" (x{format_number(comparison.ratio(design, name))})"
            column.append(text)
        cells[design] = column
    return names, cells


def format_compare(comparison: Comparison, width: int = 100) -> str:
    """Metrics by design: mean +- 95% CI over the seeds, and the ratio to the first
    design. Designs that do not fit in ``width`` columns go on to further blocks,
    each with the metric names again."""
    names, cells = compare_cells(comparison)
    left = max([len(n) for n in names] + [len("metric")])
    widths = {d: max(len(d), *(len(c) for c in cells[d])) for d in comparison.designs}
    blocks: list[list[str]] = [[]]
    used = left
    for design in comparison.designs:
        if blocks[-1] and used + 2 + widths[design] > width:
            blocks.append([])
            used = left
        blocks[-1].append(design)
        used += 2 + widths[design]
    lines = [
        f"scenario {comparison.scenario}, seeds {', '.join(map(str, comparison.seeds))}: "
        f"mean +- 95% CI (ratio to {comparison.designs[0]})"
    ]
    for block in blocks:
        head = f"{'metric':<{left}}" + "".join(f"  {d:>{widths[d]}}" for d in block)
        lines += ["", head, "-" * len(head)]
        for k, name in enumerate(names):
            lines.append(
                f"{name:<{left}}" + "".join(f"  {cells[d][k]:>{widths[d]}}" for d in block)
            )
    warning = truncated_warning(comparison)
    return "\n".join(lines) + (f"\n\n{warning}" if warning else "")


def truncated_note(result: RunResult) -> str:
    """What a run ``max_wall_s`` stopped early covers."""
    asked = (result.requested_duration_ns or 0) / 1e6
    return (
        f"TRUNCATED by max_wall_s at {result.duration_ns / 1e6:g} of {asked:g} ms simulated: "
        "the figures cover only the time reached"
    )


def truncated_warning(comparison: Comparison) -> str:
    """A line naming the runs ``max_wall_s`` stopped early, or ``""``."""
    if not comparison.truncated:
        return ""
    runs = "; ".join(
        f"{design} seed{'s' if len(stops) > 1 else ''} "
        + ", ".join(f"{seed} at {ns / 1e6:g} ms" for seed, ns in sorted(stops.items()))
        for design, stops in comparison.truncated.items()
    )
    return f"TRUNCATED by max_wall_s (figures cover only the time reached): {runs}"


def compare_document(comparison: Comparison) -> dict[str, Any]:
    """The ``compare --json`` document (schema 1)."""
    metrics: dict[str, dict[str, Any]] = {}
    for design in comparison.designs:
        for name, est in comparison.estimates[design].items():
            metrics.setdefault(name, {})[design] = {
                "mean": est.mean,
                "ci95": None if math.isnan(est.ci95) else est.ci95,
                "ratio": None if math.isnan(r := comparison.ratio(design, name)) else r,
                "values": list(est.values),
            }
    return {
        "schema": JSON_SCHEMA,
        "scenario": comparison.scenario,
        "params": comparison.params,
        "seeds": list(comparison.seeds),
        "designs": list(comparison.designs),
        "metrics": dict(sorted(metrics.items(), key=lambda kv: metric_order(kv[0]))),
        "digests": {d: list(v) for d, v in comparison.digests.items()},
        "curves": {d: list(v) for d, v in comparison.curves.items()},
        "truncated": {
            d: {str(seed): ns for seed, ns in stops.items()}
            for d, stops in comparison.truncated.items()
        },
    }


def comparison_from_document(doc: Mapping[str, Any]) -> Comparison:
    """A :class:`Comparison` back from its ``compare --json`` document (to plot it)."""
    from ..runner.compare import Comparison, Estimate

    try:
        designs = tuple(doc["designs"])
        estimates: dict[str, dict[str, Estimate]] = {d: {} for d in designs}
        for name, per_design in doc["metrics"].items():
            for design, e in per_design.items():
                ci = math.nan if e["ci95"] is None else float(e["ci95"])
                estimates[design][name] = Estimate(float(e["mean"]), ci, tuple(e["values"]))
        return Comparison(
            scenario=str(doc["scenario"]),
            designs=designs,
            seeds=tuple(doc["seeds"]),
            params=dict(doc["params"]),
            estimates=estimates,
            digests={d: tuple(v) for d, v in doc.get("digests", {}).items()},
            curves={d: tuple(v) for d, v in doc.get("curves", {}).items()},
            truncated={
                d: {int(seed): int(ns) for seed, ns in stops.items()}
                for d, stops in doc.get("truncated", {}).items()
            },
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(
            f"not a compare --json document ({type(error).__name__}: {error})"
        ) from None


HEADLINE = (
    "idle.steal_pct",
    "busy.steal_pct",
    "lock.tasklet_lock.contention_pct",
    "delivered_irq_per_s",
    "latency.device.virq.p99_ns",
)
"""What ``taskletsim sweep`` shows by default, of the metrics a scenario has."""


def sweep_metrics(summary: pd.DataFrame, grid: Sequence[str]) -> list[str]:
    """The summary's metric names (not the grid, keys or CI columns), in report order."""
    skip = {*grid, "design", "seeds", "truncated"}
    names = [c for c in summary.columns if c not in skip and not str(c).endswith(".ci95")]
    return sorted(names, key=metric_order)


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:g}" if isinstance(value, float) else str(value)


def format_sweep(summary: pd.DataFrame, grid: Sequence[str], metrics: Sequence[str] = ()) -> str:
    """One line per (grid point, design): mean +- 95% CI of ``metrics`` (by default
    those of :data:`HEADLINE` the sweep has, else its first four)."""
    available = sweep_metrics(summary, grid)
    chosen = list(metrics) or [m for m in HEADLINE if m in available] or available[:4]
    keys = [*grid, "design", "seeds"]
    cells: list[list[str]] = [[*keys, *chosen]]
    for row in summary.to_dict("records"):
        line = [_cell(row[k]) for k in keys]
        for m in chosen:
            mean, half = float(row.get(m, math.nan)), float(row.get(f"{m}.ci95", math.nan))
            line.append(
                format_number(mean) + ("" if math.isnan(half) else f" +-{format_number(half)}")
            )
        cells.append(line)
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def sweep_document(scenario: str, summary: pd.DataFrame, grid: Sequence[str], runs: int,
                   reused: int) -> dict[str, Any]:  # fmt: skip
    """The ``sweep --json`` document: one summary record per (grid point, design), NaN as
    null."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and math.isnan(value):
            return None
        return value.item() if hasattr(value, "item") else value

    return {
        "schema": JSON_SCHEMA,
        "scenario": scenario,
        "grid": list(grid),
        "runs": runs,
        "reused": reused,
        "summary": [
            {str(k): clean(v) for k, v in row.items()} for row in summary.to_dict("records")
        ],
    }
