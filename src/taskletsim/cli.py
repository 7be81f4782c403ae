"""The ``taskletsim`` command.

``taskletsim run SCENARIO [--design NAME]... [--seed N] [--duration-ms X]
[--set key=value]... [--json]`` and ``taskletsim list``. Any bad input
prints one line on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from .cli_capture import (
    DEFAULT_CPU_HZ,
    add_commands,
    export_command,
    import_command,
    report_command,
)
from .cli_capture import write_xentrace as _write_xentrace
from .cli_fit import add_command as add_fit_command
from .cli_fit import add_validate_command, fit_command, validate_command
from .core.config import (
    ConfigError,
    Param,
    check_count,
    check_duration_ms,
    check_max_wall_s,
    check_seed,
    check_warmup_ms,
    parse_assignment,
)
from .designs import design_names, get_design
from .kernel.seam import design_hosts
from .metrics import InvariantError
from .output.documents import sweep_document
from .output.export import save_chrome_trace
from .output.figures import KINDS as FIGURES
from .output.files import OutputFiles
from .output.formats import FORMATS, render_compare, render_run
from .output.tables import format_sweep, sweep_metrics
from .platform.locks import LOCK_KINDS
from .runner.compare import compare
from .runner.pool import process_pool, worker_memory_mb
from .runner.single import run_spec
from .runner.spec import RunSpec
from .runner.sweep import dask_executor, sweep
from .scenarios import (
    Scenario,
    dump_scenario,
    get_scenario,
    resolve_scenario_params,
    scenario_designs,
    scenario_names,
)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"taskletsim: error: {message} (see taskletsim --help)\n")


def _run_options(cmd: argparse.ArgumentParser) -> None:
    """The options of how each run goes, shared by run, compare and sweep."""
    cmd.add_argument(
        "--no-check", action="store_true", help="skip the invariant checks of each trace"
    )
    cmd.add_argument(
        "--max-wall-s",
        metavar="S",
        help="stop each run after S wall seconds at the simulated time reached (truncated)",
    )
    cmd.add_argument(
        "--metrics-only",
        action="store_true",
        help="measure while running instead of keeping traces (same numbers, flat memory)",
    )


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(
        prog="taskletsim",
        description="Simulate a multiprocessor hypervisor's interrupt path (spinlocks, "
        "softirqs, tasklet designs, guests' steal time) and compare designs.",
        epilog="Each command has its own help: taskletsim COMMAND --help.",
    )
    parser.add_argument("--version", action="version", version=f"taskletsim {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run_cmd = commands.add_parser("run", help="run a scenario and print its metrics")
    run_cmd.add_argument("scenario", help="scenario name (see taskletsim list)")
    run_cmd.add_argument(
        "--design", action="append", default=[], help="tasklet design; repeat to compare"
    )
    run_cmd.add_argument("--seed", default="0", help="random seed (default 0)")
    run_cmd.add_argument("--duration-ms", default=None, help="simulated time in ms")
    run_cmd.add_argument(
        "--warmup-ms",
        default=None,
        help="warm-up discarded by every metric, ms (default: the scenario file's, else 0)",
    )
    run_cmd.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="scenario parameter"
    )
    run_cmd.add_argument("--format", choices=FORMATS, help="output format (default: table)")
    run_cmd.add_argument("--json", action="store_true", help="print one JSON document")
    _run_options(run_cmd)
    run_cmd.add_argument(
        "--save-trace", metavar="PATH", help="write each run's trace as Parquet (.parquet)"
    )
    run_cmd.add_argument(
        "--chrome-trace",
        metavar="PATH",
        help="write each run's trace for ui.perfetto.dev (.json, or .json.gz gzipped)",
    )
    run_cmd.add_argument(
        "--xentrace", metavar="PATH", help="write each run's trace as a xentrace capture"
    )
    run_cmd.add_argument(
        "--cpu-hz",
        default=DEFAULT_CPU_HZ,
        help="--xentrace: the TSC rate written, Hz (default 2.4e9, as xenalyze assumes)",
    )
    cmp_cmd = commands.add_parser(
        "compare", help="run designs side by side on the same seeds, with 95%% CIs"
    )
    cmp_cmd.add_argument("scenario", help="scenario name (see taskletsim list)")
    cmp_cmd.add_argument(
        "--design", action="append", default=[], help="design to compare (default: all)"
    )
    cmp_cmd.add_argument("--seeds", default="3", help="number of seeds, 1..N (default 3)")
    cmp_cmd.add_argument("--duration-ms", default=None, help="simulated time in ms")
    cmp_cmd.add_argument("--warmup-ms", default=None, help="warm-up, ms (default: 10%%)")
    cmp_cmd.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="scenario parameter"
    )
    cmp_cmd.add_argument("--jobs", default=None, help="worker processes (default: CPUs)")
    cmp_cmd.add_argument("--format", choices=FORMATS, help="output format (default: table)")
    cmp_cmd.add_argument("--json", action="store_true", help="print one JSON document")
    cmp_cmd.add_argument("--quiet", action="store_true", help="no progress bar")
    cmp_cmd.add_argument(
        "--html", metavar="PATH", help="also write a self-contained HTML report (.html)"
    )
    _run_options(cmp_cmd)
    sweep_cmd = commands.add_parser(
        "sweep", help="run a grid of parameters x designs x seeds; rows to Parquet, resumable"
    )
    sweep_cmd.add_argument("scenario", help="scenario name (see taskletsim list)")
    sweep_cmd.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="parameter and the values to sweep; repeat for a product",
    )
    sweep_cmd.add_argument(
        "--design", action="append", default=[], help="design to sweep (default: all)"
    )
    sweep_cmd.add_argument("--seeds", default="3", help="number of seeds, 1..N (default 3)")
    sweep_cmd.add_argument("--duration-ms", default=None, help="simulated time in ms")
    sweep_cmd.add_argument("--warmup-ms", default=None, help="warm-up, ms (default: 10%%)")
    sweep_cmd.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="fixed scenario parameter"
    )
    sweep_cmd.add_argument(
        "-o", "--output", metavar="PATH", help="rows as Parquet; rerun to resume (skips rows there)"
    )
    sweep_cmd.add_argument("--jobs", default=None, help="worker processes (default: CPUs)")
    sweep_cmd.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run on a Dask scheduler at ADDRESS, or 'local' for a LocalCluster (extra: dask)",
    )
    sweep_cmd.add_argument(
        "--metric", action="append", default=[], help="metric to print (default: headline ones)"
    )
    sweep_cmd.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep_cmd.add_argument("--json", action="store_true", help="print the summary as JSON")
    _run_options(sweep_cmd)
    show_cmd = commands.add_parser(
        "show", help="print a scenario as a TOML file to start from (taskletsim run FILE)"
    )
    show_cmd.add_argument("scenario", help="scenario name or .toml file")
    show_cmd.add_argument("--design", default=None, help="design of the file (default: own)")
    show_cmd.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="scenario parameter"
    )
    plot_cmd = commands.add_parser(
        "plot", help="draw a figure (PNG or SVG) from saved results or from a run made for it"
    )
    plot_cmd.add_argument("figure", choices=FIGURES, help="which figure")
    plot_cmd.add_argument(
        "inputs", nargs="*", help="saved trace(s) or sweep rows (.parquet), comparison (.json)"
    )
    plot_cmd.add_argument("-o", "--output", required=True, help="the figure file (.png or .svg)")
    plot_cmd.add_argument("--scenario", help="without inputs: the scenario (or file) to run")
    plot_cmd.add_argument("--design", action="append", default=[], help="design(s) to run")
    plot_cmd.add_argument("--seeds", default="1", help="seeds of the comparison run (default 1)")
    plot_cmd.add_argument("--seed", default="1", help="seed of the timeline's run (default 1)")
    plot_cmd.add_argument("--duration-ms", default=None, help="simulated time in ms")
    plot_cmd.add_argument("--warmup-ms", default=None, help="warm-up, ms")
    plot_cmd.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="scenario parameter"
    )
    plot_cmd.add_argument("--window-us", help="timeline: START:END, us (default 200 us)")
    plot_cmd.add_argument("--cpus", help="timeline: CPUs to show, e.g. 0-7,40")
    plot_cmd.add_argument("--x", help="sweep: the swept parameter on the x axis")
    plot_cmd.add_argument("--metric", help="sweep: the metric on the y axis")
    commands.add_parser("list", help="list designs, scenarios and their parameters")
    add_commands(commands, _Parser)
    add_fit_command(commands)
    add_validate_command(commands)
    return parser


def _param_line(p: Param) -> str:
    return f"        {p.name} = {p.default!r}: {p.help}; {p.allowed()}"


def _list() -> str:
    lines = ["designs (options: --set with a scenario that takes a design):"]
    for name in design_names():
        design = get_design(name)
        lines.append(
            f"    {name}: {design.description} "
            f"(host {', '.join(design_hosts(design))}, default lock {design.default_lock})"
        )
        lines += [
            f"        {p.name} = {p.default!r}: {p.help}; {p.allowed()}" for p in design.options
        ]
    lines.append("lock kinds (--set lock=KIND):")
    for kind in LOCK_KINDS.names():
        cls = LOCK_KINDS[kind]
        doc = (cls.__doc__ or "").strip().splitlines()  # a class's own, never inherited
        what = vars(cls).get("description") or (doc[0].rstrip(".") if doc else "")
        grants = "FIFO grants" if cls.fifo_grants else "grants in no set order"
        spins = "enabled" if cls.spins_irqs_enabled else "disabled"
        lines.append(f"    {kind}: {what or kind} ({grants}; spins with interrupts {spins})")
    lines.append("scenarios:")
    for name in scenario_names():
        spec = get_scenario(name)
        lines.append(f"    {name}: {spec.description} (default {spec.default_duration_ms:g} ms)")
        lines += [f"        {p.name} = {p.default!r}: {p.help}; {p.allowed()}" for p in spec.params]
    return "\n".join(lines)


def _format(args: argparse.Namespace) -> str:
    """``--format``; ``--json`` is ``--format json``."""
    if args.json:
        if args.format not in (None, "json"):
            raise ConfigError("--json", "with --format " + args.format, "one of them")
        return "json"
    return str(args.format or "table")


def _warmup(spec: Scenario, given: str | None, duration: float) -> float:
    """``--warmup-ms``, else the scenario file's, else a tenth of the run."""
    if given is not None:
        warmup = check_warmup_ms(given)
    elif spec.default_warmup_ms is not None:
        warmup = spec.default_warmup_ms
    else:
        warmup = duration / 10
    if warmup >= duration:
        raise ConfigError("warmup_ms", warmup, f"less than the duration ({duration:g} ms)")
    return warmup


def _spec(args: argparse.Namespace, params: Mapping[str, object], **values: Any) -> RunSpec:
    """The runs the command's options describe: its scenario, ``--set`` (``params``),
    ``--no-check`` and ``--metrics-only``, and the ``values`` it has worked out."""
    return RunSpec(
        args.scenario,
        params=params,
        check=not args.no_check,
        metrics_only=args.metrics_only,
        **values,
    )


def _per_design(path: str, design: str | None, runs: int) -> Path:
    """``path``, or with several runs ``stem-DESIGN.suffix`` (``.json.gz`` kept whole)."""
    target = Path(path)
    if runs > 1:
        gz = target.suffix == ".gz"
        inner = Path(target.stem) if gz else target
        name = f"{inner.stem}-{design}{inner.suffix}" + (".gz" if gz else "")
        target = target.with_name(name)
    return target


def _run(args: argparse.Namespace) -> str:
    spec = get_scenario(args.scenario)
    given = dict(parse_assignment(text) for text in args.set)
    designs: list[str | None] = list(args.design) or [None]
    params = {}
    for design in designs:
        params = resolve_scenario_params(spec, design, given)
    if args.metrics_only and (args.save_trace or args.chrome_trace or args.xentrace):
        flag, path = next(
            (f, p)
            for f, p in (("--save-trace", args.save_trace), ("--chrome-trace", args.chrome_trace),
                         ("--xentrace", args.xentrace))
            if p
        )  # fmt: skip
        raise ConfigError(flag, path, "no trace file with --metrics-only")
    labels = [None if d is None else get_design(d).name for d in designs]
    with OutputFiles() as files:
        for flag, path, suffixes in (
            ("--save-trace", args.save_trace, (".parquet",)),
            ("--chrome-trace", args.chrome_trace, (".json", ".json.gz")),
            ("--xentrace", args.xentrace, ("",)),
        ):
            if path is not None:
                for label in labels:
                    files.claim(flag, _per_design(path, label, len(labels)), suffixes)
        base = _spec(args, given, seed=args.seed, duration_ms=args.duration_ms,
                     warmup_ms=args.warmup_ms, max_wall_s=args.max_wall_s)  # fmt: skip
        results = [run_spec(base.with_(design=design)) for design in designs]
        for r in results:
            if args.save_trace:
                r.trace.save(_per_design(args.save_trace, r.design, len(results)))
            if args.chrome_trace:
                save_chrome_trace(r.trace, _per_design(args.chrome_trace, r.design, len(results)))
            if args.xentrace:
                path = _per_design(args.xentrace, r.design, len(results))
                _write_xentrace(r.trace, path, args.cpu_hz)
    return render_run(results, spec.name, params, _format(args))


def _compare(args: argparse.Namespace) -> str:
    spec = get_scenario(args.scenario)
    if not spec.takes_design:
        raise ConfigError("scenario", args.scenario, "a scenario that takes a tasklet design")
    given = dict(parse_assignment(text) for text in args.set)
    designs = list(args.design) or scenario_designs(spec)
    params = {}
    for design in designs:
        params = resolve_scenario_params(spec, design, given)
    seeds = check_count("seeds", args.seeds)
    jobs = check_count("jobs", args.jobs) if args.jobs is not None else None
    duration = check_duration_ms(
        spec.default_duration_ms if args.duration_ms is None else args.duration_ms
    )
    warmup = _warmup(spec, args.warmup_ms, duration)
    max_wall = None if args.max_wall_s is None else check_max_wall_s(args.max_wall_s)
    workers = min(jobs or os.cpu_count() or 1, len(designs) * seeds)
    with OutputFiles() as files:
        html = None if args.html is None else files.claim("--html", args.html, (".html",))
        with process_pool(workers) as executor:
            base = _spec(args, given, duration_ms=duration, warmup_ms=warmup,
                         max_wall_s=max_wall, max_memory_mb=worker_memory_mb(workers))  # fmt: skip
            result = compare(
                base,
                designs,
                range(1, seeds + 1),
                executor=executor,
                progress=not args.quiet and sys.stderr.isatty(),
            )
        result = replace(result, params=params)
        if html is not None:
            from .output.html import compare_html

            command = "taskletsim " + " ".join(shlex.quote(a) for a in args.argv)
            html.write_text(compare_html(result, command), encoding="utf-8")
    return render_compare(result, _format(args))


def _plot(args: argparse.Namespace) -> str:
    """A figure of saved results, or of a run made for it here: the figures only draw."""
    from .output.figures import (
        SIMULATED,
        SUFFIXES,
        figure,
        load_inputs,
        parse_cpus,
        parse_window,
        save_figure,
    )

    with OutputFiles() as files:
        path = str(files.claim("-o", args.output, SUFFIXES))
        window = parse_window(args.window_us)
        cpus = parse_cpus(args.cpus)
        seeds = check_count("seeds", args.seeds)
        seed = check_seed(args.seed)
        duration = None if args.duration_ms is None else check_duration_ms(args.duration_ms)
        warmup = None if args.warmup_ms is None else check_warmup_ms(args.warmup_ms)
        data: Any
        if args.inputs or args.scenario is None:
            data = load_inputs(args.figure, args.inputs)
        else:
            need = SIMULATED.get(args.figure)
            if need is None:
                raise ConfigError(
                    "--scenario", args.scenario, f"none: plot {args.figure} draws files"
                )
            spec = get_scenario(args.scenario)
            params = dict(parse_assignment(text) for text in args.set)
            for design in list(args.design) or [None]:
                resolve_scenario_params(spec, design, params)
            if need == "comparison":
                base = RunSpec(args.scenario, duration_ms=duration, warmup_ms=warmup, params=params)
                data = compare(base, args.design or None, range(1, seeds + 1))
            else:
                if len(args.design) > 1:
                    raise ConfigError("--design", args.design, f"one design for plot {args.figure}")
                window = window or (1000.0, 1200.0)
                design = args.design[0] if args.design else None
                one = RunSpec(args.scenario, design, seed, window[1] / 1000.0, params=params)
                result = run_spec(one)
                data = [(result.design or spec.name, result.trace)]
        fig = figure(args.figure, data, window_us=window, cpus=cpus, x=args.x, metric=args.metric)
        save_figure(fig, path)
    return f"wrote {path}"


def _show(args: argparse.Namespace) -> str:
    spec = get_scenario(args.scenario)
    if args.design is not None and not spec.takes_design:
        raise ConfigError("--design", args.design, f"none: {spec.name} takes no design")
    given = dict(parse_assignment(text) for text in args.set)
    return dump_scenario(spec, given, args.design).rstrip("\n")


def _grid(texts: Sequence[str]) -> dict[str, list[str]]:
    if not texts:
        raise ConfigError("--grid", None, "at least one KEY=V1,V2,... to sweep")
    grid: dict[str, list[str]] = {}
    for text in texts:
        key, values = parse_assignment(text)
        items = [v.strip() for v in str(values).split(",")]
        if not all(items):
            raise ConfigError(f"--grid {key}", values, "comma-separated values, none empty")
        if key in grid:
            raise ConfigError("--grid", key, "each parameter once")
        grid[key] = items
    return grid


@contextmanager
def _sweep_executor(dask: str | None, jobs: int | None, workers: int) -> Iterator[Executor | None]:
    """A process pool of ``workers``, or a Dask cluster's executor (``--dask``)."""
    if dask is None:
        with process_pool(workers) as executor:
            yield executor
        return
    with dask_executor(dask, jobs) as executor:
        yield executor


def _sweep(args: argparse.Namespace) -> str:
    spec = get_scenario(args.scenario)
    grid = _grid(args.grid)
    given = dict(parse_assignment(text) for text in args.set)
    seeds = check_count("seeds", args.seeds)
    duration = check_duration_ms(
        spec.default_duration_ms if args.duration_ms is None else args.duration_ms
    )
    warmup = _warmup(spec, args.warmup_ms, duration)
    designs = list(args.design) or scenario_designs(spec)
    runs = max(len(designs), 1) * seeds
    for values in grid.values():
        runs *= len(values)
    if args.output is not None:  # rows are written as they come: only check a file can be made
        with OutputFiles() as files:
            files.probe("--output", args.output, (".parquet",))
    max_wall = None if args.max_wall_s is None else check_max_wall_s(args.max_wall_s)
    jobs = check_count("jobs", args.jobs) if args.jobs is not None else None
    local_workers = min(jobs or os.cpu_count() or 1, runs)
    with _sweep_executor(args.dask, jobs, local_workers) as executor:
        memory = None if args.dask else worker_memory_mb(local_workers)
        base = _spec(args, given, duration_ms=duration, warmup_ms=warmup, max_wall_s=max_wall,
                     max_memory_mb=memory)  # fmt: skip
        result = sweep(
            base,
            grid,
            designs or None,
            range(1, seeds + 1),
            executor=executor,
            output=args.output,
            progress=not args.quiet and sys.stderr.isatty(),
        )
    available = sweep_metrics(result.summary, result.grid)
    for name in args.metric:
        if name not in available:
            raise ConfigError("--metric", name, f"one of {', '.join(available)}")
    if args.json:
        doc = sweep_document(
            spec.name, result.summary, result.grid, len(result.runs), result.reused
        )
        return json.dumps(doc, indent=2)
    where = f", rows in {args.output}" if args.output else ""
    head = (
        f"scenario {spec.name}: {len(result.runs)} runs ({result.reused} reused{where}); "
        "mean +- 95% CI over the seeds"
    )
    return head + "\n" + format_sweep(result.summary, result.grid, args.metric)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status: 0, 2 for bad input, 1 if a trace broke an
    invariant (a bug in the model or in a design: the message says which)."""
    args = _parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    commands = {
        "list": lambda _a: _list(),
        "run": _run,
        "compare": _compare,
        "sweep": _sweep,
        "show": _show,
        "plot": _plot,
        "import": import_command,
        "export": export_command,
        "report": report_command,
        "fit": fit_command,
        "validate": validate_command,
    }
    try:
        out = commands[args.command](args)
    except ConfigError as error:
        print(f"taskletsim: error: {error}", file=sys.stderr)
        return 2
    except InvariantError as error:
        print(f"taskletsim: invariant broken: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("taskletsim: interrupted: no results printed", file=sys.stderr)
        return 130
    try:
        print(out, flush=True)
    except BrokenPipeError:  # e.g. piped into head: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
