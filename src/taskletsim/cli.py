"""The ``taskletsim`` command.

``taskletsim run SCENARIO [--design NAME]... [--seed N] [--duration-ms X]
[--set key=value]... [--json]`` and ``taskletsim list``. Any bad input
prints one line on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import NoReturn

from .config import ConfigError, parse_assignment, resolve_params
from .designs import design_names, get_design
from .report import document, format_comparison, format_run
from .runner import run
from .scenarios import get_scenario, scenario_names, scenario_params


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
    commands.add_parser("list", help="list designs, scenarios and their parameters")
    return parser


def _list() -> str:
    lines = ["designs:"]
    for name in design_names():
        lines.append(f"    {name}: {get_design(name).description}")
    lines.append("scenarios:")
    for name in scenario_names():
        spec = get_scenario(name)
        lines.append(f"    {name}: {spec.description} (default {spec.default_duration_ms:g} ms)")
        for p in scenario_params(spec):
            lines.append(f"        {p.name} = {p.default!r}: {p.help}; {p.allowed()}")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> str:
    spec = get_scenario(args.scenario)
    given = dict(parse_assignment(text) for text in args.set)
    params = resolve_params(scenario_params(spec), given, owner=f"scenario {args.scenario}")
    designs: list[str | None] = list(args.design) or [None]
    results = [
        run(
            args.scenario,
            design=design,
            seed=args.seed,
            duration_ms=args.duration_ms,
            params=given,
            warmup_ms=args.warmup_ms,
        )
        for design in designs
    ]
    if args.json:
        return json.dumps(document(args.scenario, params, results), indent=2)
    text = "\n\n".join(format_run(r) for r in results)
    if len(results) > 1:
        text += "\n\ncomparison (same scenario and seed):\n" + format_comparison(results)
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        out = _list() if args.command == "list" else _run(args)
    except ConfigError as error:
        print(f"taskletsim: error: {error}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
