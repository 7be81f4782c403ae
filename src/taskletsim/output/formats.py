"""Results in the formats ``--format`` offers: ``table`` (text for a terminal),
``markdown`` (to paste into a mailing-list reply or a pull request), ``csv``
(long form, one value per row, for a spreadsheet or pandas) and ``json``
(the documents of docs/json.md).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..runner.compare import Comparison
from ..runner.result import RunResult
from ..runner.summary import run_summary
from .documents import compare_document, document, metric_order
from .tables import (
    compare_cells,
    format_compare,
    format_comparison,
    format_number,
    format_run,
    truncated_note,
    truncated_warning,
)

FORMATS = ("table", "markdown", "csv", "json")
"""The values of ``--format``."""


def _md_table(head: Sequence[str], rows: Sequence[Sequence[object]], right: int = 1) -> str:
    """A GitHub-flavoured Markdown table; columns from ``right`` on are right-aligned."""
    align = ["---" if i < right else "---:" for i in range(len(head))]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _csv(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(head)
    writer.writerows(rows)
    return out.getvalue().rstrip("\n")


def _us(ns: float) -> str:
    return f"{ns / 1000:.2f}"


# -- one run or several on the same seed -------------------------------------------------


def run_markdown(result: RunResult) -> str:
    """One run: its facts, its locks, interrupt latency by source kind, guests' steal."""
    m = result.measured()
    title = f"### {result.scenario}" + (f", {result.design}" if result.design else "")
    facts = [
        f"seed {result.seed}, {result.duration_ns / 1e6:g} ms simulated "
        f"(measured from {result.warmup_ns / 1e6:g} ms), {m.events:,} events, "
        f"digest `{result.digest[:16]}`"
    ]
    if result.truncated:
        facts.append(f"**{truncated_note(result)}**")
    facts += [
        f"{k}: {format_number(v) if isinstance(v, float) else v}" for k, v in result.info.items()
    ]
    parts = [title, "", *(f"- {f}" for f in facts)]
    locks = [
        (
            f"`{name}`",
            f"{s.acquisitions_per_s:,.0f}",
            f"{100 * s.contentions / s.acquisitions:.1f}",
            f"{s.wait.total / s.acquisitions:.1f}",
            f"{s.hold.mean:.1f}",
            f"{s.bounces:,}",
        )
        for name, s in m.locks.items()
        if s.acquisitions
    ]
    if locks:
        head = ["lock", "acq/s", "contended %", "wait ns/acq", "hold ns", "bounces"]
        parts += ["", _md_table(head, locks)]
    latency = [
        (kind, stage, lat.count, *(_us(v) for v in (lat.p50_ns, lat.p99_ns, lat.max_ns)))
        for kind, stages in m.latency_by_kind().items()
        for stage, lat in stages.items()
    ]
    if latency:
        head = ["interrupts", "stage", "count", "p50 us", "p99 us", "max us"]
        parts += ["", _md_table(head, latency, right=2)]
    groups = m.class_times()
    if groups:
        rows = [(g, f"{t.steal_pct:.3f}", f"{t.hv_pct:.2f}") for g, t in groups.items()]
        parts += ["", _md_table(["guests", "steal %", "hypervisor % of RUNNING"], rows)]
    return "\n".join(parts)


def run_csv(results: Sequence[RunResult]) -> str:
    """Every run's summary metrics (those of ``compare``), one per row."""
    rows = [
        (r.scenario, r.design or "", r.seed, name, value)
        for r in results
        for name, value in sorted(run_summary(r).items(), key=lambda kv: metric_order(kv[0]))
    ]
    return _csv(["scenario", "design", "seed", "metric", "value"], rows)


def render_run(
    results: Sequence[RunResult], scenario: str, params: Mapping[str, Any], fmt: str
) -> str:
    """``taskletsim run`` output in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "json":
        return json.dumps(document(scenario, params, results), indent=2)
    if fmt == "csv":
        return run_csv(results)
    if fmt == "markdown":
        return "\n\n".join(run_markdown(r) for r in results)
    text = "\n\n".join(format_run(r) for r in results)
    if len(results) > 1:
        text += "\n\ncomparison (same scenario and seed):\n" + format_comparison(list(results))
    return text


# -- designs side by side over seeds ----------------------------------------------------


def compare_markdown(comparison: Comparison) -> str:
    """The comparison as one Markdown table: a row per metric, a column per design."""
    names, cells = compare_cells(comparison)
    title = (
        f"**{comparison.scenario}**, seeds {', '.join(map(str, comparison.seeds))}: "
        f"mean +- 95% CI (ratio to {comparison.designs[0]})"
    )
    rows = [
        (f"`{name}`", *(cells[d][k] for d in comparison.designs)) for k, name in enumerate(names)
    ]
    warning = truncated_warning(comparison)
    table = title + "\n\n" + _md_table(["metric", *comparison.designs], rows)
    return table + (f"\n\n**{warning}**" if warning else "")


def compare_csv(comparison: Comparison) -> str:
    """One row per (metric, design): mean, ci95, ratio to the first design, each seed's
    value (``;``-separated)."""

    def cell(x: float) -> str:
        return "" if math.isnan(x) else repr(x)

    rows = []
    names, _ = compare_cells(comparison)
    for name in names:
        for design in comparison.designs:
            est = comparison.estimates[design].get(name)
            if est is None:
                continue
            values = ";".join(repr(v) for v in est.values)
            ratio = comparison.ratio(design, name)
            rows.append(
                (
                    comparison.scenario,
                    name,
                    design,
                    cell(est.mean),
                    cell(est.ci95),
                    cell(ratio),
                    values,
                )
            )
    return _csv(["scenario", "metric", "design", "mean", "ci95", "ratio", "values"], rows)


def render_compare(comparison: Comparison, fmt: str) -> str:
    """``taskletsim compare`` output in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "json":
        return json.dumps(compare_document(comparison), indent=2)
    if fmt == "csv":
        return compare_csv(comparison)
    if fmt == "markdown":
        return compare_markdown(comparison)
    return format_compare(comparison)


__all__ = [
    "FORMATS",
    "compare_csv",
    "compare_markdown",
    "render_compare",
    "render_run",
    "run_csv",
    "run_markdown",
]
