"""A comparison as one self-contained HTML page (``taskletsim compare --html``).

Everything is in the file: the styles, the figures as inline PNG images, no
script or font fetched from anywhere, so the page opens offline, in a mail
attachment or a CI artifact. It holds the scenario and its parameters, the
comparison table, the figures (steal and hypervisor share, interrupt
latency, lock waits), the digest of every run and the versions that made it.
"""

from __future__ import annotations

import base64
import html
import io
import json
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

import numpy as np

from ..core.trace import Trace
from ..runner.compare import Comparison
from . import plots
from .tables import compare_cells

if TYPE_CHECKING:
    from matplotlib.figure import Figure

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f2f2f2; } code { font-size: 0.95em; }
figure { margin: 1em 0; } img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
"""

CHECK = """
window.addEventListener("load", function () {
  var images = document.querySelectorAll("img");
  var drawn = 0;
  images.forEach(function (img) { if (img.complete && img.naturalWidth > 0) drawn++; });
  document.body.dataset.figures = drawn + "/" + images.length;
  console.log("taskletsim report: figures drawn " + drawn + "/" + images.length);
});
"""


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _beginning(title: str, command: str | None) -> list[str]:
    """The page's start: its title, styles, heading and the command that made it."""
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>taskletsim: {esc(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>taskletsim: {esc(title)}</h1>",
    ]
    if command:
        parts.append(f"<p>Command: <code>{esc(command)}</code></p>")
    return parts


def _ending(parts: list[str]) -> str:
    """The page's end: the versions table and the figure check; the page as one string."""
    esc = html.escape
    parts.append("<table>")
    parts += [
        f"<tr><td>{esc(k)}</td><td><code>{esc(v)}</code></td></tr>" for k, v in _versions().items()
    ]
    parts.append(f"</table><script>{CHECK}</script></body></html>")
    return "\n".join(parts) + "\n"


def _versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for package in ("taskletsim", "simpy", "numpy", "pandas", "matplotlib"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out


def report_figures(comparison: Comparison) -> list[tuple[str, Figure]]:
    """The report's figures with their captions."""
    figures: list[tuple[str, Figure]] = [
        (
            "Steal (time a guest's vCPUs were ready but not running) and the share of "
            "RUNNING spent in Xen, per guest class; whiskers: 95% CI over the seeds.",
            plots.steal_bars(comparison),
        )
    ]
    series: dict[str, dict[str, plots.Cdf]] = {}
    for design in comparison.designs:
        for kind in ("device", "timer"):
            cdf = plots.curves_cdf(comparison.curves.get(design, ()), f"latency.{kind}")
            if cdf is not None:
                series.setdefault(kind, {})[design] = cdf
    if series:
        figures.append(
            (
                "Interrupt latency from raise to vIRQ injection (quantiles averaged over the "
                "seeds; an interrupt not delivered by the end counts with its wait so far).",
                plots.latency_cdf(series, f"{comparison.scenario}: interrupt latency"),
            )
        )
    hists = {
        d: list(np.sum([c["lock_wait"] for c in comparison.curves[d] if "lock_wait" in c], axis=0))
        for d in comparison.designs
        if any("lock_wait" in c for c in comparison.curves.get(d, ()))
    }
    if hists:
        figures.append(
            (
                "Spinlock waits: contended acquisitions of every lock by how long they "
                "waited, all seeds together.",
                plots.lock_wait_histogram(hists, f"{comparison.scenario}: spinlock waits"),
            )
        )
    return figures


def compare_html(comparison: Comparison, command: str | None = None) -> str:
    """The report page (a string of HTML)."""
    esc = html.escape
    names, cells = compare_cells(comparison)
    seeds = ", ".join(map(str, comparison.seeds))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>taskletsim: {esc(comparison.scenario)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>taskletsim: {esc(comparison.scenario)}</h1>",
        f"<p>Designs {esc(', '.join(comparison.designs))} on seeds {esc(seeds)}: each "
        "figure is the mean over the seeds with its 95% confidence interval, and the "
        f"ratio to {esc(comparison.designs[0])}.</p>",
    ]
    if command:
        parts.append(f"<p>Command: <code>{esc(command)}</code></p>")
    head = "".join(f"<th>{esc(d)}</th>" for d in comparison.designs)
    parts.append(f"<h2>Comparison</h2><table><tr><th>metric</th>{head}</tr>")
    for k, name in enumerate(names):
        row = "".join(f'<td class="num">{esc(cells[d][k])}</td>' for d in comparison.designs)
        parts.append(f"<tr><td><code>{esc(name)}</code></td>{row}</tr>")
    parts.append("</table><h2>Figures</h2>")
    for caption, fig in report_figures(comparison):
        parts.append(
            f'<figure><img alt="{esc(caption)}" src="data:image/png;base64,{_png(fig)}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>"
        )
    parts.append("<h2>Parameters</h2><table><tr><th>parameter</th><th>value</th></tr>")
    parts += [
        f"<tr><td><code>{esc(k)}</code></td><td>{esc(str(v))}</td></tr>"
        for k, v in comparison.params.items()
    ]
    parts.append("</table>")
    parts.append("<h2>Runs</h2><table><tr><th>design</th><th>seed</th><th>digest</th></tr>")
    for design in comparison.designs:
        for seed, digest in zip(comparison.seeds, comparison.digests.get(design, ()), strict=False):
            parts.append(
                f"<tr><td>{esc(design)}</td><td>{seed}</td><td><code>{esc(digest)}</code></td></tr>"
            )
    parts.append("</table><h2>Versions</h2>")
    return _ending(parts)


def trace_html(trace: Trace, command: str | None = None, window_ns: int = 50_000_000) -> str:
    """The report page of one trace, a saved run or an imported capture: what it covers
    (:func:`~taskletsim.output.trace_report.trace_report`), its source's caveats and
    counts, and what each CPU was doing over its first ``window_ns``."""
    from .trace_report import format_trace_report, trace_report

    esc = html.escape
    doc = trace_report(trace)
    source = trace.meta.source
    title = f"{source['tool']} {source['file']}" if source else str(trace.meta.scenario)
    parts = _beginning(title, command)
    parts.append(f"<h2>What it shows</h2><pre>{esc(format_trace_report(doc, rows=40))}</pre>")
    if source:
        parts.append("<h2>What its source cannot see</h2><ul>")
        parts += [f"<li>{esc(c)}</li>" for c in source.get("caveats", [])]
        parts.append("</ul><h2>What was read</h2><pre>")
        parts.append(esc(json.dumps(source.get("counts", {}), indent=1)))
        parts.append("</pre>")
        parts += [f"<p>Warning: {esc(w)}</p>" for w in source.get("warnings", [])]
    end = min(doc["span_ns"], window_ns)
    fig = plots.timeline(trace, 0, max(end, 1))
    caption = f"what each CPU was doing, 0 to {end / 1e6:g} ms"
    parts.append(
        f'<h2>Timeline</h2><figure><img alt="{esc(caption)}" '
        f'src="data:image/png;base64,{_png(fig)}"><figcaption>{esc(caption)}</figcaption>'
        "</figure><h2>Versions</h2>"
    )
    return _ending(parts)


def table_html(
    title: str,
    header: list[str],
    rows: list[tuple[list[str], bool]],
    notes: list[str],
    command: str | None = None,
) -> str:
    """A page of one table (``taskletsim validate --html``): ``rows`` are cells and whether
    the row is flagged (shown in bold, marked ``*``); ``notes`` are paragraphs after it."""
    esc = html.escape
    parts = _beginning(title, command)
    parts.append("<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>")
    for cells, flagged in rows:
        tds = "".join(
            f'<td class="num">{esc(c)}</td>' if i else f"<td>{esc(c)}</td>"
            for i, c in enumerate(cells)
        )
        mark = ' style="font-weight: bold"' if flagged else ""
        parts.append(f"<tr{mark}>{tds}<td>{'*' if flagged else ''}</td></tr>")
    parts.append("</table>")
    parts += [f"<p>{esc(n)}</p>" for n in notes]
    parts.append("<h2>Versions</h2>")
    return _ending(parts)
