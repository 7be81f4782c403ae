"""``taskletsim fit TRACE -o host.toml``: a host file fitted to a trace (:mod:`taskletsim.fit`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import tomli_w

from .core.config import ConfigError
from .core.trace import Trace
from .fit.host import fit_host, parse_topology
from .fitted_host import host_document
from .metrics.common import is_linux_host
from .output.files import OutputFiles
from .scenarios.host.toml import load_scenario


def add_command(commands: Any) -> None:
    """The ``fit`` command."""
    fit = commands.add_parser("fit", help="a host file fitted to a trace (Xen or Linux)")
    fit.add_argument("trace", help="a saved or imported trace (.parquet)")
    fit.add_argument("-o", "--output", required=True, help="the host file to write (.toml)")
    fit.add_argument(
        "--topology", metavar="SxC[xT]", help="sockets x cores [x threads] (default: the trace's)"
    )
    fit.add_argument(
        "--design", help="the file's design (default: the trace's, else xen-4.4-global)"
    )


def add_validate_command(commands: Any) -> None:
    """The ``validate`` command."""
    cmd = commands.add_parser(
        "validate",
        help="fit a host to a trace, simulate it, and set measured beside simulated",
    )
    cmd.add_argument("trace", help="a saved or imported trace (.parquet)")
    cmd.add_argument("--design", help="the design to simulate (default: the trace's)")
    cmd.add_argument("--seeds", default="3", help="seeds of the simulation (default 3)")
    cmd.add_argument(
        "--topology", metavar="SxC[xT]", help="sockets x cores [x threads] (default: the trace's)"
    )
    cmd.add_argument("--html", metavar="FILE", help="also write the table as an HTML page")


def validate_command(args: argparse.Namespace) -> str:
    """Fit, simulate, and print the trace's figures beside the model's."""
    from .core.config import check_count
    from .output.html import table_html
    from .validation import format_validation, validate

    trace = Trace.load(args.trace)
    topology = None if args.topology is None else parse_topology(args.topology)
    seeds = check_count("seeds", args.seeds)
    with OutputFiles() as files:
        page = files.claim("--html", args.html, (".html",)) if args.html else None
        v = validate(trace, args.design, seeds, topology)
        text = format_validation(v)
        if page is not None:
            rows = [
                (
                    [
                        r.metric,
                        f"{r.measured:,.4g}",
                        f"{r.simulated.mean:,.4g}",
                        f"{r.simulated.ci95:,.3g}",
                    ],
                    r.outside,
                )
                for r in v.rows
            ]
            notes = [text.splitlines()[0], text.splitlines()[-1]]
            header = ["metric", "measured", "simulated mean", "95% CI +-", "outside"]
            title = f"{v.origin} against {v.design}"
            command = "taskletsim " + " ".join(args.argv) if getattr(args, "argv", None) else None
            page.write_text(table_html(title, header, rows, notes, command))
    return text


def fit_command(args: argparse.Namespace) -> str:
    """Fit, write the host file, check that it loads, and say what was fitted."""
    trace = Trace.load(args.trace)
    topology = None if args.topology is None else parse_topology(args.topology)
    linux = is_linux_host(trace.meta)
    design = args.design or trace.meta.design or ("linux" if linux else "xen-4.4-global")
    with OutputFiles() as files:
        out = files.claim("--output", args.output, (".toml",))
        fitted = fit_host(trace, topology)
        doc = host_document(trace, fitted, design, Path(out).stem)
        out.write_text(tomli_w.dumps(doc))
        try:
            load_scenario(out)
        except ConfigError as error:  # a fitted file the loader refuses is a bug here
            raise ConfigError("fit", str(out), f"a host file that loads ({error})") from None
    if "scenario" in fitted or "devices" in fitted:
        return "\n".join([f"wrote {out}", *linux_fit_lines(fitted)])
    lines = [f"wrote {out}: {len(fitted['guests'])} guests"]
    for guest in fitted["guests"]:
        where = f"floating over {len(guest['floating'])} pCPUs" if "floating" in guest else "pinned"
        lines.append(
            f"  {guest['name']}: {len(guest['cpus'])} vCPUs, {guest['workload']}, {where}"
            + (f", ticks {guest['tick_hz']:.0f}/s" if "tick_hz" in guest else "")
        )
        for device in guest.get("devices", []):
            lines.append(
                f"    device on vCPU {device['vcpu']}: {device['process']} at "
                f"{device['rate_per_s']:,.0f}/s"
            )
    for source, report in fitted["fit"].items():
        chosen = report["chosen"]
        lines.append(
            f"  {source}: {report['arrivals']} arrivals, {chosen['family']} "
            f"(KS p {chosen['p_value']:.3f}; tried "
            + ", ".join(f"{t['family']} {t['p_value']:.3f}" for t in report["tried"])
            + ")"
        )
    return "\n".join(lines)


def linux_fit_lines(fitted: dict[str, Any]) -> list[str]:
    """What a Linux host's fit found: a scenario's fitted parameters, or its devices and
    tasks."""
    if "scenario" in fitted:
        lines = [f"  scenario {fitted['scenario']}, fitted (fitted | the run's):"]
        for key, pair in fitted["fit"].items():
            lines.append(f"    {key}: {pair['fitted']} | {pair['run']}")
        return lines
    lines = [f"  {len(fitted['devices'])} devices, {len(fitted['tasks'])} tasks"]
    for device in fitted["devices"]:
        report = fitted["fit"][device["name"]]
        chosen = report["arrivals"]["chosen"]
        bh = report.get("bottom_half")
        how = (
            f"replayed ({len(device['times_us']):,} interrupts; best fit {chosen['family']} "
            if device["process"] == "replay"
            else f"{device['process']} at {device['rate_per_s']:,.0f}/s ("
        )
        lines.append(
            f"  {device['name']} on CPU {device['cpu']}: {how}"
            f"KS p {chosen['p_value']:.3f}), handler "
            f"{report['handler']['mean_ns']:,.0f} ns"
            + (f", bottom half ({bh['from']}) {bh['mean_ns']:,.0f} ns" if bh else "")
        )
    for task in fitted["tasks"]:
        what = task["workload"]
        if what == "sleeper":
            what += f" {task['run_us']:,.1f} us on, {task['block_us']:,.1f} us off"
        lines.append(f"  task {task['name']} on CPUs {task['cpus']}: {what}")
    for softirq in fitted.get("softirqs", []):
        raised = [f"{k} {softirq[k]}" for k in ("per_timer_irq", "reraise") if k in softirq]
        lines.append(f"  softirq {softirq['name']}" + (": " + ", ".join(raised) if raised else ""))
    if "hz" in fitted.get("params", {}):
        lines.append(
            f"  HZ {fitted['params']['hz']} (the tick period most timer-interrupt gaps have)"
        )
    return lines
