"""Lock acquisitions simulated per wall second, next to plain SimPy.

Runs ``lock-open`` (MCS and TTAS, ``transfer_ns=0``, rho = 0.6) and an
idiomatic SimPy M/M/1 model of the same queue (a ``simpy.Resource`` and one
process per request), measured in the same process, and prints the
acquisitions per second of each and the ratio. Not a test: speed is a ratio
to SimPy measured on the same machine in the same run.

    python benchmarks/bench_lock_open.py [--acquisitions N]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

import taskletsim as ts

RATE_PER_S = 600_000.0
HOLD_NS = 1000.0


def plain_simpy(acquisitions: int, seed: int = 1) -> float:
    """The same M/M/1 queue written the usual SimPy way; acquisitions per wall s."""
    env = simpy.Environment()
    server = simpy.Resource(env, capacity=1)
    rng = np.random.default_rng(seed)
    gaps = np.rint(rng.exponential(1e9 / RATE_PER_S, acquisitions)).astype(np.int64).tolist()
    holds = np.rint(rng.exponential(HOLD_NS, acquisitions)).astype(np.int64).tolist()
    done = [0]

    def request(hold: int) -> Generator[Any, Any, None]:
        with server.request() as req:
            yield req
            done[0] += 1
            yield env.timeout(hold)

    def source() -> Generator[Any, Any, None]:
        for gap, hold in zip(gaps, holds, strict=True):
            yield env.timeout(gap)
            env.process(request(hold))

    env.process(source())
    started = time.perf_counter()
    env.run()
    return done[0] / (time.perf_counter() - started)


def taskletsim_rate(acquisitions: int, lock: str) -> float:
    duration_ms = acquisitions / RATE_PER_S * 1e3
    result = ts.run(
        "lock-open",
        seed=1,
        duration_ms=duration_ms,
        params={"lock": lock, "transfer_ns": 0, "rate_per_s": RATE_PER_S, "hold_ns": HOLD_NS},
    )
    stats = ts.lock_stats(result.trace)["lock"]
    return stats.acquisitions / result.wall_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--acquisitions", type=int, default=300_000)
    args = parser.parse_args()
    base = plain_simpy(args.acquisitions)
    print(f"plain SimPy (Resource + process per request): {base:12,.0f} acquisitions/s")
    for lock in ("mcs", "ticket", "ttas"):
        ours = taskletsim_rate(args.acquisitions, lock)
        print(
            f"taskletsim lock-open, {lock:<6} (traced):        {ours:12,.0f} acquisitions/s"
            f"   ratio {ours / base:.2f}"
        )


if __name__ == "__main__":
    main()
