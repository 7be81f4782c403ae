"""lock-open against M/D/1 and M/M/1 (docs/validation.md).

With ``transfer_ns=0`` a lock is a single server whose service time is the
hold time. The mean wait over all acquisitions must match
Pollaczek-Khinchine within 3%. Sample sizes are chosen from the measured
scatter (about 3M acquisitions at rho = 0.85, exponential hold; docs/validation.md).

The order in which waiters are served (FIFO for ticket and MCS, a random
winner for TTAS) does not change the mean: hold times are drawn at grant,
so with the same arrivals every kind grants the lock at exactly the same
instants. The equality tests check that bit for bit, which carries the
closed-form check of the large MCS runs over to the other two kinds; each
kind is also compared with the closed form directly at rho = 0.6.
"""

from __future__ import annotations

import numpy as np
import pytest

import taskletsim as ts
from taskletsim.core.events import EventKind
from taskletsim.platform import theory

from .helpers import lock_run

HOLD_NS = 1000.0

# (hold, rho, simulated ms): about 3M, 1.3M, 600k, 400k, 300k, 150k acquisitions.
CASES = [
    ("exp", 0.85, 3500),
    ("const", 0.85, 1500),
    ("exp", 0.6, 1000),
    ("const", 0.6, 700),
    ("exp", 0.3, 1000),
    ("const", 0.3, 500),
]


def closed_form(hold: str, rho: float) -> float:
    return (theory.md1_wait if hold == "const" else theory.mm1_wait)(rho, HOLD_NS)


def mean_wait(hold: str, rho: float, duration_ms: float, lock: str) -> float:
    _, stats = lock_run(
        "lock-open",
        duration_ms,
        lock=lock,
        transfer_ns=0,
        hold=hold,
        hold_ns=HOLD_NS,
        rate_per_s=rho / HOLD_NS * 1e9,
        spinners="unbounded",  # every request waits on the lock itself: one FIFO queue
    )
    return stats.wait.total / stats.acquisitions


@pytest.mark.parametrize(("hold", "rho", "duration_ms"), CASES)
def test_mcs_matches_pollaczek_khinchine(hold: str, rho: float, duration_ms: float) -> None:
    simulated = mean_wait(hold, rho, duration_ms, "mcs")
    assert simulated == pytest.approx(closed_form(hold, rho), rel=0.03)


@pytest.mark.parametrize("lock", ["ttas", "ticket"])
@pytest.mark.parametrize("hold", ["const", "exp"])
def test_every_kind_matches_at_rho_0_6(lock: str, hold: str) -> None:
    simulated = mean_wait(hold, 0.6, 1000 if hold == "exp" else 700, lock)
    assert simulated == pytest.approx(closed_form(hold, 0.6), rel=0.03)


def grant_times(lock: str, hold: str, rho: float) -> tuple[np.ndarray, np.ndarray]:
    result = ts.run(
        "lock-open",
        seed=7,
        duration_ms=50,
        params={
            "lock": lock,
            "transfer_ns": 0,
            "hold": hold,
            "rate_per_s": rho * 1e6,
            "spinners": "unbounded",  # contentions at the arrivals, whatever the order
        },
    )
    trace = result.trace
    acquire = trace.time_ns[trace.kind == EventKind.LOCK_ACQUIRE]
    contend = np.sort(trace.time_ns[trace.kind == EventKind.LOCK_CONTEND])
    return acquire, contend


@pytest.mark.parametrize("hold", ["const", "exp"])
@pytest.mark.parametrize("rho", [0.3, 0.85])
def test_service_order_does_not_change_the_grant_instants(hold: str, rho: float) -> None:
    mcs = grant_times("mcs", hold, rho)
    assert len(mcs[0]) > 10_000
    for lock in ("ticket", "ttas"):
        other = grant_times(lock, hold, rho)
        assert np.array_equal(mcs[0], other[0]), lock
        assert np.array_equal(mcs[1], other[1]), lock


def test_ttas_order_differs_from_fifo() -> None:
    """The equality above is not vacuous: TTAS does serve waiters in another order."""

    def order(lock: str) -> np.ndarray:
        trace = ts.run(
            "lock-open",
            seed=7,
            duration_ms=20,
            params={"lock": lock, "transfer_ns": 0, "rate_per_s": 850_000},
        ).trace
        return trace.arg[trace.kind == EventKind.LOCK_ACQUIRE]

    assert not np.array_equal(order("mcs"), order("ttas"))
    assert np.array_equal(order("mcs"), order("ticket"))


def test_saturated_stream_runs_for_its_duration_and_says_so() -> None:
    result, stats = lock_run("lock-open", 20, transfer_ns=0, rate_per_s=1.2e6, lock="mcs")
    assert result.info["saturated"] is True
    assert result.info["offered_load"] == pytest.approx(1.2)
    assert result.info["backlog"] > 1000
    # The lock is busy all the time: one acquisition per hold time.
    assert stats.acquisitions_per_s == pytest.approx(1e6, rel=0.03)
    assert result.trace.time_ns[-1] < 20_000_000


def test_stable_stream_is_not_saturated() -> None:
    result, _ = lock_run("lock-open", 20, transfer_ns=0, rate_per_s=3e5, lock="mcs")
    assert result.info["saturated"] is False


def test_an_open_load_is_served_at_the_offered_rate_or_the_capacity() -> None:
    """The README's example: ticket lock, 600k requests/s on 8 CPUs. At most 8 CPUs spin,
    so it serves at its capacity with 8 spinners (measured at 2M/s offered), whichever
    is lower; with every request spinning on its own it collapses."""

    def served(rate: float, spinners: str = "cpus") -> float:
        _, stats = lock_run("lock-open", 50, lock="ticket", rate_per_s=rate, spinners=spinners)
        return stats.acquisitions_per_s

    capacity = served(2e6)
    assert 400_000 < capacity < 600_000
    assert served(6e5) == pytest.approx(capacity, rel=0.05)
    assert served(3e5) == pytest.approx(3e5, rel=0.03)
    assert served(6e5, "unbounded") < 0.01 * capacity
