"""Arrival processes of interrupt sources."""

from __future__ import annotations

import numpy as np
import pytest

import taskletsim as ts
from taskletsim.core.sim import Simulation


def arrivals(process: ts.interrupts.Arrivals, until: int, seed: int = 0) -> np.ndarray:
    sim = Simulation(seed)
    times: list[int] = []
    process.start(sim, lambda: times.append(sim.now), "test")
    sim.run(until)
    return np.array(times)


def test_periodic_with_jitter_stays_within_its_window() -> None:
    times = arrivals(ts.Periodic(1000, jitter_ns=100, phase_ns=500), 100_500)
    assert len(times) == 100
    offsets = times - (500 + 1000 * np.arange(100))
    assert np.abs(offsets).max() <= 100
    assert np.abs(offsets).max() > 50  # the jitter is really drawn


def test_periodic_without_jitter_is_exact() -> None:
    times = arrivals(ts.Periodic(250, phase_ns=10), 2_000)
    assert times.tolist() == [10 + 250 * k for k in range(8)]


def test_poisson_rate_and_exponential_gaps() -> None:
    times = arrivals(ts.Poisson(1e6), 20_000_000)  # 20 ms at 1 per us
    assert len(times) == pytest.approx(20_000, rel=0.03)
    gaps = np.diff(times)
    assert gaps.std() == pytest.approx(gaps.mean(), rel=0.05)  # exponential: cv = 1


def test_on_off_mean_rate_is_the_on_share() -> None:
    times = arrivals(ts.OnOff(1e6, on_ns=50_000, off_ns=150_000), 200_000_000)
    assert len(times) / 200_000 == pytest.approx(0.25, rel=0.1)
    gaps = np.diff(times)
    assert gaps.max() > 100_000  # there are silent off-periods


def test_replay_fires_at_the_given_times() -> None:
    assert arrivals(ts.Replay((5, 7, 7, 100)), 1000).tolist() == [5, 7, 7, 100]


def test_moderation_holds_and_coalesces() -> None:
    """ITR of 100 ns over arrivals at 0, 10, 20, 150, 400: fires at 0, 100 (10 and 20
    coalesced), 200 (150 held to the end of its interval), 400."""
    times = arrivals(ts.Moderated(ts.Replay((0, 10, 20, 150, 400)), 100), 1000)
    assert times.tolist() == [0, 100, 200, 400]


def test_moderation_caps_a_fast_stream() -> None:
    times = arrivals(ts.Moderated(ts.Poisson(1e7), 10_000), 10_000_000)
    assert len(times) <= 1001
    assert np.diff(times).min() >= 10_000


def test_bad_arrival_parameters_are_config_errors() -> None:
    with pytest.raises(ts.ConfigError, match="rate_per_s"):
        arrivals(ts.Poisson(0), 10)
    with pytest.raises(ts.ConfigError, match="jitter_ns"):
        arrivals(ts.Periodic(100, jitter_ns=60), 10)
