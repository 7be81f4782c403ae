"""``taskletsim import`` and ``taskletsim export``: real machines' captures in, simulated
runs out in their format (:mod:`taskletsim.capture`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .capture import export_xentrace, import_ftrace, import_xentrace
from .capture.xentrace import MAX_CPU_HZ, MIN_CPU_HZ
from .core.config import ConfigError
from .core.events import EventKind
from .core.trace import Trace
from .metrics.locks import contention_stats
from .metrics.runstates import vcpu_times
from .output.files import OutputFiles

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
    """What an import read, skipped and lost, and what the capture shows: each vCPU's
    runstates and steal (xentrace); interrupts, softirq time and contended locks (Linux)."""
    source = trace.meta.source or {}
    if source.get("tool") == "xentrace":
        return "\n".join([*_xentrace_lines(trace, source), *_vcpu_lines(trace)])
    return "\n".join([*_linux_lines(trace, source), *_linux_summary(trace)])


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
        top = sorted(other.items(), key=lambda item: -item[1])[:3]
        most = ", ".join(f"{k} x{v}" for k, v in top)
        lines.append(f"  skipped {counts.get('skipped', 0)} of {len(other)} other ids ({most})")
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
    return lines


def _vcpu_lines(trace: Trace) -> list[str]:
    times = vcpu_times(trace)
    if not times:
        return []
    lines = ["vCPU       running ms  runnable ms  blocked ms  offline ms  steal %"]
    for name, vt in times.items():
        lines.append(
            f"{name:<10} {vt.running_ns / 1e6:10.3f}  {vt.runnable_ns / 1e6:11.3f}  "
            f"{vt.blocked_ns / 1e6:10.3f}  {vt.offline_ns / 1e6:10.3f}  {vt.steal_pct:7.3f}"
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
        top = sorted(other.items(), key=lambda item: -item[1])[:3]
        most = ", ".join(f"{k} x{v}" for k, v in top)
        lines.append(f"  skipped {counts.get('skipped', 0)} lines of {len(other)} other events"
                     f" ({most})")  # fmt: skip
    if counts.get("bad_lines"):
        lines.append(f"  {counts['bad_lines']} lines not read (cut short or unexpected)")
    lines += [f"  warning: {w}" for w in source.get("warnings", [])]
    return lines


def _linux_summary(trace: Trace) -> list[str]:
    """Per IRQ source its handler entries, per softirq its time, per lock its contention."""
    span_s = max(trace.meta.duration_ns or 1, 1) / 1e9
    lines = []
    entries = trace.rows(EventKind.IRQ_ENTRY)
    per_source = np.bincount(trace.subject[entries], minlength=len(trace.meta.irq))
    for sid in np.argsort(-per_source, kind="stable")[:8].tolist():
        if per_source[sid]:
            info = trace.meta.irq[sid]
            lines.append(
                f"  irq {info.name}: {per_source[sid]} ({per_source[sid] / span_s:,.0f}/s)"
            )
    time_in = _softirq_ns(trace)
    for vec, ns in sorted(time_in.items(), key=lambda item: -item[1]):
        share = 100 * ns / (span_s * 1e9 * max(trace.meta.topology.get("cpus", 1), 1))
        lines.append(
            f"  softirq {trace.meta.softirqs[vec]}: {ns / 1e6:.3f} ms ({share:.2f}% of CPU)"
        )
    stats = sorted(contention_stats(trace).values(), key=lambda c: -c.wait.total)
    for c in stats[:8]:
        lines.append(
            f"  lock {c.name}: {c.contentions} contended, wait total {c.wait.total / 1e3:.1f} us,"
            f" mean {c.wait.mean / 1e3:.2f} us, max {c.wait.max / 1e3:.1f} us"
        )
    return lines


def _softirq_ns(trace: Trace) -> dict[int, int]:
    """ns in each softirq: each entry to the exit right after it on its CPU."""
    rows = trace.of_kinds(EventKind.SOFTIRQ_ENTRY, EventKind.SOFTIRQ_EXIT)
    rows = rows[np.argsort(trace.cpu[rows], kind="stable")]
    cpu, t, vec = trace.cpu[rows], trace.time_ns[rows], trace.subject[rows]
    entry = trace.kind[rows] == EventKind.SOFTIRQ_ENTRY
    paired = np.flatnonzero(entry[:-1] & ~entry[1:] & (cpu[1:] == cpu[:-1]))
    total = np.bincount(vec[paired], weights=t[paired + 1] - t[paired])
    return {v: int(ns) for v, ns in enumerate(total.tolist()) if ns}


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
