"""The ``taskletsim`` command.

``taskletsim run SCENARIO [--design NAME]... [--seed N] [--duration-ms X]
[--set key=value]... [--json]`` and ``taskletsim list``. Any bad input
prints one line on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

from .core.config import (
    ConfigError,
    Param,
    check_count,
    check_duration_ms,
    check_warmup_ms,
    parse_assignment,
)
from .designs import design_names, get_design
from .metrics import InvariantError
from .output.export import save_chrome_trace
from .output.report import compare_document, document, format_compare, format_comparison, format_run
from .runner.compare import compare, default_executor
from .runner.single import run
from .scenarios import get_scenario, resolve_scenario_params, scenario_names


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"taskletsim: error: {message} (see taskletsim --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="taskletsim", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run_cmd = commands.add_parser("run", help="run a scenario and print its metrics")
    run_cmd.add_argument("scenario", help="scenario name (see taskletsim list)")
    run_cmd.add_argument(
        "--design", action="append", default=[], help="tasklet design; repeat to compare"
    )
    run_cmd.add_argument("--seed", default="0", help="random seed (default 0)")
    run_cmd.add_argument("--duration-ms", default=None, help="simulated time in ms")
    run_cmd.add_argument(
        "--warmup-ms", default="0", help="warm-up discarded by every metric, ms (default 0)"
    )
    run_cmd.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="scenario parameter"
    )
    run_cmd.add_argument("--json", action="store_true", help="print one JSON document")
    run_cmd.add_argument(
        "--no-check", action="store_true", help="skip the invariant checks of each trace"
    )
    run_cmd.add_argument(
        "--save-trace", metavar="PATH", help="write each run's trace as Parquet (.parquet)"
    )
    run_cmd.add_argument(
        "--chrome-trace", metavar="PATH", help="write each run's trace for ui.perfetto.dev (.json)"
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
    cmp_cmd.add_argument("--json", action="store_true", help="print one JSON document")
    cmp_cmd.add_argument(
        "--no-check", action="store_true", help="skip the invariant checks of each trace"
    )
    commands.add_parser("list", help="list designs, scenarios and their parameters")
    return parser


def _param_line(p: Param) -> str:
    return f"        {p.name} = {p.default!r}: {p.help}; {p.allowed()}"


def _list() -> str:
    lines = ["designs (options: --set with a scenario that takes a design):"]
    for name in design_names():
        design = get_design(name)
        lines.append(f"    {name}: {design.description} (default lock {design.default_lock})")
        lines += [
            f"        {p.name} = {p.default!r}: {p.help}; {p.allowed()}" for p in design.options
        ]
    lines.append("scenarios:")
    for name in scenario_names():
        spec = get_scenario(name)
        lines.append(f"    {name}: {spec.description} (default {spec.default_duration_ms:g} ms)")
        lines += [f"        {p.name} = {p.default!r}: {p.help}; {p.allowed()}" for p in spec.params]
    return "\n".join(lines)


def _per_design(path: str, design: str | None, runs: int) -> Path:
    """``path``, or with several runs ``stem-DESIGN.suffix``."""
    target = Path(path)
    if runs > 1:
        target = target.with_name(f"{target.stem}-{design}{target.suffix}")
    return target


def _run(args: argparse.Namespace) -> str:
    spec = get_scenario(args.scenario)
    given = dict(parse_assignment(text) for text in args.set)
    designs: list[str | None] = list(args.design) or [None]
    params = {}
    for design in designs:
        params = resolve_scenario_params(spec, design, given)
    results = [
        run(
            args.scenario,
            design=design,
            seed=args.seed,
            duration_ms=args.duration_ms,
            params=given,
            warmup_ms=args.warmup_ms,
            check=not args.no_check,
        )
        for design in designs
    ]
    for r in results:
        if args.save_trace:
            r.trace.save(_per_design(args.save_trace, r.design, len(results)))
        if args.chrome_trace:
            save_chrome_trace(r.trace, _per_design(args.chrome_trace, r.design, len(results)))
    if args.json:
        return json.dumps(document(spec.name, params, results), indent=2)
    text = "\n\n".join(format_run(r) for r in results)
    if len(results) > 1:
        text += "\n\ncomparison (same scenario and seed):\n" + format_comparison(results)
    return text


def _compare(args: argparse.Namespace) -> str:
    spec = get_scenario(args.scenario)
    if not spec.takes_design:
        raise ConfigError("scenario", args.scenario, "a scenario that takes a tasklet design")
    given = dict(parse_assignment(text) for text in args.set)
    designs = list(args.design) or design_names(builtin=True)
    params = {}
    for design in designs:
        params = resolve_scenario_params(spec, design, given)
    seeds = check_count("seeds", args.seeds)
    jobs = check_count("jobs", args.jobs) if args.jobs is not None else None
    duration = check_duration_ms(
        spec.default_duration_ms if args.duration_ms is None else args.duration_ms
    )
    warmup = duration / 10 if args.warmup_ms is None else check_warmup_ms(args.warmup_ms)
    if warmup >= duration:
        raise ConfigError("warmup_ms", args.warmup_ms, f"less than the duration ({duration:g} ms)")
    executor = default_executor(min(jobs or os.cpu_count() or 1, len(designs) * seeds))
    try:
        result = compare(
            args.scenario,
            designs,
            range(1, seeds + 1),
            duration_ms=duration,
            warmup_ms=warmup,
            params=given,
            executor=executor,
            check=not args.no_check,
        )
    finally:
        if executor is not None:
            executor.shutdown()
    result = replace(result, params=params)
    if args.json:
        return json.dumps(compare_document(result), indent=2)
    return format_compare(result)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status: 0, 2 for bad input, 1 if a trace broke an
    invariant (a bug in the model or in a design: the message says which)."""
    args = _parser().parse_args(argv)
    commands = {"list": lambda _a: _list(), "run": _run, "compare": _compare}
    try:
        out = commands[args.command](args)
    except ConfigError as error:
        print(f"taskletsim: error: {error}", file=sys.stderr)
        return 2
    except InvariantError as error:
        print(f"taskletsim: invariant broken: {error}", file=sys.stderr)
        return 1
    try:
        print(out, flush=True)
    except BrokenPipeError:  # e.g. piped into head: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
