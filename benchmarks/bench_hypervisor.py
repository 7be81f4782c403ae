"""Trace events and interrupts simulated per wall second on the hypervisor scenarios.

Next to a plain SimPy loop measured in the same run (8 processes yielding
timeouts: the cheapest a SimPy model can be), so the ratio is comparable
across machines. Not a test.

    python benchmarks/bench_hypervisor.py [--duration-ms 50]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Generator
from typing import Any

import simpy

import taskletsim as ts

DESIGNS = tuple(ts.design_names(builtin=True))


def plain_simpy(events: int = 400_000) -> float:
    """SimPy events per wall second for 8 processes sleeping 1 us at a time."""
    env = simpy.Environment()

    def cpu() -> Generator[Any, Any, None]:
        for _ in range(events // 8):
            yield env.timeout(1000)

    for _ in range(8):
        env.process(cpu())
    started = time.perf_counter()
    env.run()
    return events / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-ms", type=float, default=50.0)
    args = parser.parse_args()
    base = plain_simpy()
    print(f"plain SimPy timeouts: {base:12,.0f} events/s")
    for scenario in ("small-2socket", "xen-8socket-passthrough"):
        for design in DESIGNS:
            r = ts.run(scenario, design=design, seed=1, duration_ms=args.duration_ms)
            rate = len(r.trace) / r.wall_s
            print(
                f"{scenario:<24} {design:<15} {rate:12,.0f} trace events/s"
                f"  ratio {rate / base:.2f}  ({r.wall_s:.2f} s for {args.duration_ms:g} ms)"
            )


if __name__ == "__main__":
    main()
