"""Where does each lock kind saturate under an open load?

Sweeps the request rate of ``lock-open`` (8 CPUs on 2 sockets, 1 us hold,
perfbook transfer costs; a CPU queues its next request while one is
outstanding, so at most 8 spin) and prints each lock kind's acquisitions per
second and mean wait per acquisition. TTAS and ticket handoffs grow with the
number of spinners, so they saturate below MCS; past its capacity a lock
serves at that capacity while the backlog grows.

    python examples/lock_knee.py
"""

from __future__ import annotations

import taskletsim as ts

RATES = [100_000, 200_000, 300_000, 400_000, 500_000, 600_000, 2_000_000]
KINDS = ["ttas", "ticket", "mcs"]


def main() -> None:
    print(f"{'offered/s':>9} " + " ".join(f"{kind + ' acq/s, wait us':>24}" for kind in KINDS))
    for rate in RATES:
        cells = []
        for kind in KINDS:
            result = ts.run(
                "lock-open", seed=1, duration_ms=50, params={"lock": kind, "rate_per_s": rate}
            )
            stats = ts.lock_stats(result.trace, start_ns=5_000_000)["lock"]
            mean = stats.wait.total / max(stats.acquisitions, 1) / 1000
            mark = "*" if result.info["backlog"] > 100 else " "
            cells.append(f"{stats.acquisitions_per_s:>12,.0f} {mean:>10,.1f}{mark}")
        print(f"{rate:>9,} " + " ".join(cells))
    print("* more than 100 requests waiting at the end: offered beyond the lock's capacity")


if __name__ == "__main__":
    main()
