"""The closed forms themselves, against values worked out by hand."""

from __future__ import annotations

import pytest

from taskletsim.platform import theory


def test_pollaczek_khinchine() -> None:
    assert theory.md1_wait(0.5, 1000) == pytest.approx(500.0)
    assert theory.mm1_wait(0.5, 1000) == pytest.approx(1000.0)
    with pytest.raises(ValueError):
        theory.mm1_wait(1.0, 1000)


def test_machine_repairman_by_hand() -> None:
    # n = 1: one CPU alternates think and hold: X = 1 / (a + s).
    assert theory.machine_repairman_throughput(1, 9000, 1000) == pytest.approx(1 / 10_000)
    # n = 2, a = s = 1: P1/P0 = 2, P2/P1 = 1 -> P0 = 1/5, X = 4/5.
    assert theory.machine_repairman_throughput(2, 1.0, 1.0) == pytest.approx(0.8)


def test_chain_with_transfer_by_hand() -> None:
    # n = 1, a = 1, s = 1, c = 2: service 1 + 2/2 = 2; P1/P0 = 2 -> X = (2/3) / 2.
    assert theory.lock_chain_throughput(1, 1.0, 1.0, 2.0) == pytest.approx(1 / 3)
    probs = theory.lock_chain_distribution(200, 1e4, 1e3, 300.0)
    assert sum(probs) == pytest.approx(1.0)
