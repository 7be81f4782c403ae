"""Text tables: lock tables in ``/proc/lock_stat`` and ``xenlockprof`` form, a run's report,
comparisons and sweeps as aligned columns."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ..metrics import STAGES, CpuTimes, Latency, LockStats, VcpuTime
from ..runner.result import RunResult
from .documents import metric_order

if TYPE_CHECKING:
    import pandas as pd

    from ..runner.compare import Comparison


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
    parts = [*head, "", "lock_stat:", format_lock_stat(stats)]
    if m.cpu is None:  # a Xen host
        parts += ["", "xenlockprof:", format_xenlockprof(stats, result.duration_ns)]
    else:
        parts += ["", "cpu time (/proc/stat, CONFIG_IRQ_TIME_ACCOUNTING):"]
        parts.append(format_cpu_times(m.cpu))
    if m.meta.irq:
        parts += ["", "interrupt latency:", format_latency(m.irq_latency())]
    if m.meta.vcpus:
        times = m.vcpus
        title = "runstates" if m.cpu is None else "task runstates (runnable: run-queue delay)"
        parts += ["", f"{title}:", format_runstates(times, guests=m.cpu is None)]
        parts += ["", "runstate intervals (xenalyze-style):", format_intervals(times)]
    return "\n".join(parts)


def format_cpu_times(cpu: CpuTimes, tasks: int = 20) -> str:
    """A Linux host's accounting: hard-IRQ and softirq time per CPU and in all, the share
    ``ksoftirqd`` ran and its wake-ups, and the tasks interrupts took most time from."""
    head = f"{'cpu':<6} {'hardirq ms':>11} {'softirq ms':>11}"
    lines = [head, "-" * len(head)]
    for c, (h, s) in enumerate(zip(cpu.hardirq_ns, cpu.softirq_ns, strict=True)):
        lines.append(f"{c:<6} {h / 1e6:>11.3f} {s / 1e6:>11.3f}")
    lines.append(
        f"all: hardirq {cpu.hardirq_pct:.2f}% and softirq {cpu.softirq_pct:.2f}% of CPU time; "
        f"{cpu.ksoftirqd_softirq_pct:.1f}% of the softirq time in ksoftirqd, woken "
        f"{cpu.ksoftirqd_wakeups} times"
    )
    taken = {
        n: cpu.task_irq_ns.get(n, 0) + cpu.task_softirq_ns.get(n, 0)
        for n in {*cpu.task_irq_ns, *cpu.task_softirq_ns}
    }
    if taken:
        lines.append(f"{'task':<24} {'hardirq ms':>11} {'softirq ms':>11}")
        for name in sorted(taken, key=lambda n: (-taken[n], n))[:tasks]:
            h, s = cpu.task_irq_ns.get(name, 0), cpu.task_softirq_ns.get(name, 0)
            lines.append(f"{name:<24} {h / 1e6:>11.3f} {s / 1e6:>11.3f}")
    return "\n".join(lines)


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


def format_runstates(times: Mapping[str, VcpuTime], guests: bool = True) -> str:
    """Per vCPU: ms in each runstate, steal % and hypervisor % of RUNNING (the last only
    for ``guests``: a Linux host's tasks have none)."""
    head = f"{'vcpu':<14}" + "".join(
        f" {c:>11}" for c in ("running ms", "runnable ms", "blocked ms", "offline ms")
    )
    head += f" {'steal %':>8}" + (f" {'hv % of run':>11}" if guests else "")
    lines = [head, "-" * len(head)]
    for name, t in times.items():
        cells = (t.running_ns, t.runnable_ns, t.blocked_ns, t.offline_ns)
        lines.append(
            f"{name:<14}"
            + "".join(f" {c / 1e6:>11.3f}" for c in cells)
            + f" {t.steal_pct:>8.3f}"
            + (f" {t.hv_pct:>11.2f}" if guests else "")
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
