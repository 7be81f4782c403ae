"""lock-closed against the machine-repairman queue and the Boyd-Wickizer chain.

docs/validation.md: n CPUs loop think (exponential, mean a) -> acquire ->
hold (exponential, mean s) -> release. Without a transfer cost this is
M/M/1//n. With a per-waiter cost c, the handoff of a ticket or TTAS lock
costs c*k/2 on average and throughput follows the birth-death chain: it
rises, peaks, then collapses. An MCS handoff costs c whatever the number of
waiters, so its throughput saturates at 1/(s + c) and never collapses.
"""

from __future__ import annotations

import pytest

from taskletsim.platform import theory

from .helpers import lock_run

THINK_NS = 20_000.0
HOLD_NS = 1_000.0
TRANSFER_NS = 250


def throughput_per_s(n: int, lock: str, transfer_ns: int, duration_ms: float) -> float:
    _, stats = lock_run(
        "lock-closed",
        duration_ms,
        lock=lock,
        cpus=n,
        sockets=1,
        transfer_ns=transfer_ns,
        think_ns=THINK_NS,
        hold_ns=HOLD_NS,
    )
    return stats.acquisitions_per_s


@pytest.mark.parametrize("lock", ["ttas", "ticket", "mcs"])
@pytest.mark.parametrize("n", [1, 2, 4, 8, 16, 32])
def test_machine_repairman(lock: str, n: int) -> None:
    duration_ms = 600 if n <= 2 else 250
    expected = theory.machine_repairman_throughput(n, THINK_NS, HOLD_NS) * 1e9
    assert throughput_per_s(n, lock, 0, duration_ms) == pytest.approx(expected, rel=0.03)


GRID = [1, 2, 4, 8, 10, 12, 13, 14, 15, 16, 17, 18, 20, 22, 24, 28, 32, 40, 48]


def chain(n: int) -> float:
    return theory.lock_chain_throughput(n, THINK_NS, HOLD_NS, TRANSFER_NS) * 1e9


def collapse_n(curve: dict[int, float]) -> int:
    """First n past the peak whose throughput is below 3/4 of the peak."""
    peak_n = max(curve, key=curve.__getitem__)
    return next(n for n in GRID if n > peak_n and curve[n] < 0.75 * curve[peak_n])


@pytest.fixture(scope="module")
def chain_curve() -> dict[int, float]:
    return {n: chain(n) for n in GRID}


@pytest.mark.parametrize("lock", ["ticket", "ttas"])
def test_non_scalable_lock_follows_boyd_wickizer(lock: str, chain_curve: dict[int, float]) -> None:
    """Within 10% of the chain, except within 15% of the chain's peak n.

    Right at the cliff the system is bistable (docs/validation.md): a
    faithful simulation can sit 10-20% above the chain there, so those points
    are exempt from the 10% check but still count for where the peak is.
    """
    curve = {n: throughput_per_s(n, lock, TRANSFER_NS, 150) for n in GRID}
    chain_peak = max(chain_curve, key=chain_curve.__getitem__)
    for n in GRID:
        if abs(n - chain_peak) <= 0.15 * chain_peak:
            continue
        assert curve[n] == pytest.approx(chain_curve[n], rel=0.10), n
    sim_peak = max(curve, key=curve.__getitem__)
    assert abs(sim_peak - chain_peak) <= 0.15 * chain_peak
    assert abs(collapse_n(curve) - collapse_n(chain_curve)) <= 0.15 * collapse_n(chain_curve)
    assert curve[48] < 0.4 * curve[sim_peak]


def test_mcs_does_not_collapse() -> None:
    curve = {n: throughput_per_s(n, "mcs", TRANSFER_NS, 100) for n in (8, 16, 24, 32, 48)}
    ceiling = 1e9 / (HOLD_NS + TRANSFER_NS)
    assert curve[48] == pytest.approx(ceiling, rel=0.03)
    for a, b in zip(list(curve.values()), list(curve.values())[1:], strict=False):
        assert b >= 0.98 * a
    assert curve[48] > 2.5 * chain(48)
