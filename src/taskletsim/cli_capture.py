"""``taskletsim import`` and ``taskletsim export``: real machines' captures in, simulated
runs out in their format (:mod:`taskletsim.capture`)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .capture import export_xentrace, import_ftrace, import_xentrace
from .capture.xentrace import MAX_CPU_HZ, MIN_CPU_HZ
from .core.config import ConfigError
from .core.trace import Trace
from .output.export import save_chrome_trace
from .output.files import OutputFiles
from .output.trace_report import format_trace_report, trace_report

DEFAULT_CPU_HZ = "2.4e9"
"""xenalyze's default TSC rate, for ``run --xentrace`` without ``--cpu-hz``."""


def add_commands(commands: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """The ``import`` and ``export`` commands, each with one subcommand per format."""
    hz_help = f"the TSC rate of the traced host in Hz ({MIN_CPU_HZ:.0e}..{MAX_CPU_HZ:.0e})"
    imp = commands.add_parser("import", help="read a real machine's capture into a trace")
    formats = imp.add_subparsers(dest="format", required=True, parser_class=parser_class)
    xen = formats.add_parser("xentrace", help="a xentrace binary capture (xentrace -e ...)")
    xen.add_argument("file", help="the file xentrace wrote")
    xen.add_argument("--cpu-hz", required=True, help=hz_help + ", e.g. 2.4e9")
    xen.add_argument("-o", "--output", required=True, help="the trace to write (.parquet)")
    xen.add_argument(
        "--vector-map", metavar="FILE", help="lines 'VCPU VECTOR NAME [KIND]' naming vectors"
    )
    xen.add_argument("--lockprof", metavar="FILE", help="xenlockprof's output of the same time")
    xen.add_argument("--quiet", action="store_true", help="no progress bar")
    perf = formats.add_parser(
        "perf", help="Linux tracepoint text: perf script, tracefs trace, trace-cmd report"
    )
    perf.add_argument("file", help="the text (perf script [--ns] > FILE, or the trace file)")
    perf.add_argument("-o", "--output", required=True, help="the trace to write (.parquet)")
    perf.add_argument("--kallsyms", metavar="FILE", help="/proc/kallsyms, to name the locks")
    rep = commands.add_parser(
        "report", help="what a saved trace or an imported capture shows, within what it covers"
    )
    rep.add_argument("trace", help="a saved or imported trace (.parquet)")
    rep.add_argument("--json", action="store_true", help="print one JSON document")
    rep.add_argument(
        "--chrome-trace", metavar="PATH", help="also write it for ui.perfetto.dev (.json[.gz])"
    )
    rep.add_argument("--html", metavar="PATH", help="also write a self-contained HTML report")
    exp = commands.add_parser("export", help="write a trace in a real tool's format")
    formats = exp.add_subparsers(dest="format", required=True, parser_class=parser_class)
    xen = formats.add_parser("xentrace", help="Xen's binary format, for xenalyze and others")
    xen.add_argument("trace", help="a saved trace (.parquet)")
    xen.add_argument("-o", "--output", required=True, help="the xentrace file to write")
    xen.add_argument("--cpu-hz", default=DEFAULT_CPU_HZ, help=hz_help + " (default 2.4e9)")
    xen.add_argument(
        "--vector-map", metavar="FILE", help="also write the vectors given to the IRQ sources"
    )


@contextmanager
def _progress(total: int, quiet: bool) -> Iterator[Callable[[int], None] | None]:
    """A progress bar over bytes read, on a terminal only."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=total, unit="B", unit_scale=True, desc="importing", leave=False) as bar:

        def advance(n: int) -> None:
            bar.update(n)

        yield advance


def import_command(args: argparse.Namespace) -> str:
    """``taskletsim import xentrace FILE --cpu-hz HZ -o OUT.parquet`` and ``taskletsim
    import perf FILE -o OUT.parquet``."""
    with OutputFiles() as files:
        out = files.claim("--output", args.output, (".parquet",))
        if args.format == "perf":
            trace = import_ftrace(args.file, kallsyms=args.kallsyms)
        else:
            path = Path(args.file)
            size = path.stat().st_size if path.is_file() else 0
            with _progress(size, args.quiet) as progress:
                trace = import_xentrace(
                    path,
                    args.cpu_hz,
                    vector_map=args.vector_map,
                    lockprof=args.lockprof,
                    progress=progress,
                )
        trace.save(out)
    return describe_import(trace) + f"\nwrote {out} ({len(trace)} events)"


def describe_import(trace: Trace) -> str:
    """What an import read, skipped and lost, and what the capture shows (within what
    its source covers: :mod:`taskletsim.output.trace_report`)."""
    source = trace.meta.source or {}
    read = _xentrace_lines if source.get("tool") == "xentrace" else _linux_lines
    return "\n".join([*read(trace, source), format_trace_report(trace_report(trace))])


def _most(counted: dict[str, int]) -> str:
    """The three most counted, with their counts."""
    top = sorted(counted.items(), key=lambda item: -item[1])[:3]
    return ", ".join(f"{k} x{v}" for k, v in top)


def _xentrace_lines(trace: Trace, source: dict[str, Any]) -> list[str]:
    counts = source.get("counts", {})
    details = source.get("details", {})
    span_ms = (trace.meta.duration_ns or 0) / 1e6
    lines = [
        f"{source.get('tool')} {source.get('file')}: {counts.get('records', 0)} records in "
        f"{counts.get('windows', 0)} windows, {trace.meta.topology.get('cpus', 0)} pCPUs, "
        f"{span_ms:.3f} ms at {details.get('cpu_hz', 0) / 1e9:g} GHz",
        f"  mapped {counts.get('mapped', 0)} records to {len(trace)} events",
    ]
    other = counts.get("other_ids", {})
    if other:
        lines.append(
            f"  skipped {counts.get('skipped', 0)} of {len(other)} other ids ({_most(other)})"
        )
    for key, what in (
        ("wrap", "wrap records"),
        ("untimed", "records before their pCPU's first TSC"),
        ("vm_without_vcpu", "VM entries/exits before a vCPU was seen on their pCPU"),
        ("virq_without_vcpu", "injections before a vCPU was seen on their pCPU"),
        ("runstate_mismatch", "runstate changes not from the vCPU's last state"),
        ("tsc_backwards", "records whose TSC went back on their pCPU"),
    ):
        if counts.get(key):
            lines.append(f"  {counts[key]} {what}")
    excluded = source.get("excluded", [])
    if counts.get("lost_records"):
        lost_ms = sum(b - a for _c, a, b in excluded) / 1e6
        lines.append(
            f"  {counts['lost_records']} records lost in {len(excluded)} windows "
            f"({lost_ms:.3f} ms excluded from every metric)"
        )
    lines += [f"  warning: {w}" for w in source.get("warnings", [])]
    lockprof = details.get("lockprof")
    if lockprof:
        total = lockprof.get("profiling_time_s")
        lines.append(
            "xenlockprof totals (no events: Xen traces no lock)"
            + (f" over {total:g} s" if total else "")
            + ", most blocked first:"
        )
        ranked = sorted(lockprof["locks"].items(), key=lambda kv: -kv[1]["time_block_s"])
        for name, lock in ranked[:8]:
            lines.append(
                f"  {name}: {lock['lock_cnt']} taken, {lock['block_cnt']} blocked, held "
                f"{lock['time_hold_s'] * 1e3:.3f} ms, blocked {lock['time_block_s'] * 1e3:.3f} ms"
            )
    return lines


def _linux_lines(trace: Trace, source: dict[str, Any]) -> list[str]:
    counts = source.get("counts", {})
    span_ms = (trace.meta.duration_ns or 0) / 1e6
    lines = [
        f"{source.get('tool')} {source.get('file')}: {counts.get('lines', 0)} event lines, "
        f"{trace.meta.topology.get('cpus', 0)} CPUs, {span_ms:.3f} ms",
        f"  mapped {counts.get('mapped', 0)} to {len(trace)} events",
    ]
    other = counts.get("other_events", {})
    if other:
        skipped = counts.get("skipped", 0)
        lines.append(f"  skipped {skipped} lines of {len(other)} other events ({_most(other)})")
    if counts.get("bad_lines"):
        lines.append(f"  {counts['bad_lines']} lines not read (cut short or unexpected)")
    lines += [f"  warning: {w}" for w in source.get("warnings", [])]
    return lines


def report_command(args: argparse.Namespace) -> str:
    """``taskletsim report TRACE.parquet [--json] [--chrome-trace PATH] [--html PATH]``."""
    trace = Trace.load(args.trace)
    with OutputFiles() as files:
        chrome = html = None
        if args.chrome_trace is not None:
            chrome = files.claim("--chrome-trace", args.chrome_trace, (".json", ".json.gz"))
        if args.html is not None:
            html = files.claim("--html", args.html, (".html",))
        doc = trace_report(trace)
        if chrome is not None:
            save_chrome_trace(trace, chrome)
        if html is not None:
            from .output.html import trace_html

            html.write_text(trace_html(trace, "taskletsim " + " ".join(args.argv)), "utf-8")
    if args.json:
        return json.dumps(doc, indent=2)
    source = trace.meta.source
    head = (
        f"{source['tool']} {source['file']}: {doc['events']} events, {doc['cpus']} CPUs, "
        f"{doc['span_ns'] / 1e6:.3f} ms"
        if source
        else f"{trace.meta.scenario} ({trace.meta.design}, seed {trace.meta.seed}): "
        f"{doc['events']} events, {doc['span_ns'] / 1e6:.3f} ms"
    )
    return head + "\n" + format_trace_report(doc)


def export_command(args: argparse.Namespace) -> str:
    """``taskletsim export xentrace TRACE.parquet -o run.xentrace --cpu-hz HZ``."""
    trace = Trace.load(args.trace)
    with OutputFiles() as files:
        out = files.claim("--output", args.output, ("",))
        vectors = None
        if args.vector_map is not None:
            vectors = files.claim("--vector-map", args.vector_map, ("",))
        summary = export_xentrace(trace, out, args.cpu_hz, vector_map=vectors)
    counts = ", ".join(f"{k} {v}" for k, v in summary.records.items())
    return f"wrote {out}: {summary.bytes} bytes ({counts})"


def write_xentrace(trace: Trace, path: Path, cpu_hz: str) -> None:
    """``run --xentrace``: a run's trace as a xentrace capture."""
    if len(trace) == 0:
        raise ConfigError("--xentrace", str(path), "a run that recorded events")
    export_xentrace(trace, path, cpu_hz)
