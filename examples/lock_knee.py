"""Where does each lock kind collapse under an open load?

Sweeps the request rate of ``lock-open`` (8 CPUs on 2 sockets, 1 us hold,
perfbook transfer costs) and prints the mean wait per acquisition of each
lock kind. TTAS and ticket handoffs grow with the number of waiters, so past
a knee they collapse; MCS does not.

    python examples/lock_knee.py
"""

from __future__ import annotations

import taskletsim as ts

RATES = [100_000, 200_000, 300_000, 350_000, 400_000, 500_000]
KINDS = ["ttas", "ticket", "mcs"]


def main() -> None:
    print(f"{'rate/s':>8} " + " ".join(f"{kind + ' wait ns':>16}" for kind in KINDS))
    for rate in RATES:
        cells = []
        for kind in KINDS:
            result = ts.run(
                "lock-open", seed=1, duration_ms=50, params={"lock": kind, "rate_per_s": rate}
            )
            stats = ts.lock_stats(result.trace, start_ns=5_000_000)["lock"]
            mean = stats.wait.total / max(stats.acquisitions, 1)
            cells.append(f"{mean:16,.0f}" + ("*" if result.info["backlog"] > 100 else " "))
        print(f"{rate:>8} " + " ".join(cells))
    print("* more than 100 requests still waiting at the end: the lock has collapsed")


if __name__ == "__main__":
    main()
