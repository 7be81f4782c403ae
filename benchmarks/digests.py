"""Every scenario x design (x lock kind) run once, short, and its trace digest printed.

For a change that must not change what the model does (a refactor, a speed
change): run it on both commits and compare the outputs, line for line::

    python benchmarks/digests.py > before.txt     # on the old commit
    python benchmarks/digests.py > after.txt      # on the new one
    diff before.txt after.txt                     # nothing: the same traces

Each line is ``scenario design lock digest``; the metrics-only digest (the trace
it would have kept) must equal the full run's, which the script asserts. The
example host files under ``examples/hosts`` run too, and each design with each
value of its choice options.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import taskletsim as ts

HERE = Path(__file__).resolve().parent
LOCKS = ("ttas", "ticket", "mcs")


def runs() -> list[tuple[str, str | None, dict[str, object]]]:
    """(scenario, design, params) of every run."""
    out: list[tuple[str, str | None, dict[str, object]]] = []
    hosts = sorted(str(p) for p in (HERE.parent / "examples" / "hosts").glob("*.toml"))
    for scenario in [*ts.scenario_names(builtin=True), *hosts]:
        spec = ts.get_scenario(scenario)
        if not spec.takes_design:
            out += [(scenario, None, {"lock": lock}) for lock in LOCKS]
            continue
        for design in ts.scenario_designs(spec):
            for lock in (None, *LOCKS):
                out.append((scenario, design, {} if lock is None else {"lock": lock}))
            for p in ts.get_design(design).options:
                if p.kind == "choice":
                    for value in p.choices[1:]:
                        out.append((scenario, design, {p.name: value}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-ms", type=float, default=3.0)
    parser.add_argument("--seeds", type=int, default=1)
    args = parser.parse_args()
    for (scenario, design, params), seed in itertools.product(runs(), range(1, args.seeds + 1)):
        digests = [
            ts.run(
                scenario,
                design=design,
                seed=seed,
                duration_ms=args.duration_ms,
                warmup_ms=0,
                params=params,
                metrics_only=lean,
            ).digest
            for lean in (False, True)
        ]
        assert digests[0] == digests[1], (scenario, design, params, seed)
        given = ",".join(f"{k}={v}" for k, v in params.items()) or "-"
        print(f"{Path(scenario).name} {design or '-'} {given} {seed} {digests[0]}", flush=True)


if __name__ == "__main__":
    main()
