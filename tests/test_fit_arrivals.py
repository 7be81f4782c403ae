"""Fitting arrival processes: times made by the model's own processes are fitted back to
the family and the parameters that made them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import taskletsim as ts
from taskletsim.capture import import_ftrace
from taskletsim.core.config import ConfigError
from taskletsim.core.sim import Simulation
from taskletsim.fit import fit_arrivals, fit_sources, source_arrivals
from taskletsim.fit.arrivals import fit_onoff, fit_periodic, onoff_gaps
from taskletsim.metrics import irq_counts
from taskletsim.platform.arrivals import Arrivals, OnOff, Periodic, Poisson


def arrivals_of(process: Arrivals, duration_ns: int, seed: int = 7) -> np.ndarray:
    """The times ``process`` fires over ``duration_ns`` of a simulation."""
    sim = Simulation(seed)
    times: list[int] = []
    process.start(sim, lambda: times.append(sim.clock.now), "src")
    sim.run(duration_ns)
    return np.asarray(times, dtype=np.int64)


def test_a_clock_is_periodic_to_the_ns() -> None:
    fit = fit_arrivals(arrivals_of(Periodic(1_000_000, 0, 250_000), 200_000_000))
    assert fit.chosen.family == "periodic"
    assert fit.chosen.process == Periodic(1_000_000, 0, 250_000)


def test_a_jittered_tick_is_periodic_with_its_jitter() -> None:
    fit = fit_arrivals(arrivals_of(Periodic(1_000_000, 50_000), 2_000_000_000))
    assert fit.chosen.family == "periodic"
    p = fit.chosen.params
    assert abs(p["period_ns"] - 1_000_000) <= 20  # 2,000 ticks
    assert abs(p["jitter_ns"] / 50_000 - 1) < 0.05  # the range of 2,000 uniform draws
    assert fit.chosen.p_value >= 0.01


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_poisson_stream_is_poisson_at_its_rate(seed: int) -> None:
    fit = fit_arrivals(arrivals_of(Poisson(20_000), 2_000_000_000, seed))  # ~40,000 arrivals
    assert fit.chosen.family == "poisson"
    assert abs(fit.chosen.params["rate_per_s"] / 20_000 - 1) < 0.02
    tried = {f.family: f for f in fit.fits}
    assert tried["periodic"].p_value < 0.01


@pytest.mark.parametrize("seed", [1, 2])
def test_bursts_are_on_off_with_their_rate_and_periods(seed: int) -> None:
    made = OnOff(50_000, 2_000_000, 8_000_000)
    fit = fit_arrivals(arrivals_of(made, 8_000_000_000, seed), seed=seed)  # ~80,000 arrivals
    assert fit.chosen.family == "onoff"
    p = fit.chosen.params
    assert abs(p["rate_per_s"] / made.rate_per_s - 1) < 0.02
    assert abs(p["on_ns"] / made.on_ns - 1) < 0.1
    assert abs(p["off_ns"] / made.off_ns - 1) < 0.1
    assert {f.family: f.p_value for f in fit.fits}["poisson"] < 0.01


@pytest.mark.parametrize(
    "on_us, off_us, rate_within", [(200, 800, 0.02), (1000, 1000, 0.02), (100, 300, None)]
)
def test_short_bursts_are_fitted_at_their_rate_and_the_rate_they_offer(
    on_us: int, off_us: int, rate_within: float | None
) -> None:
    """A burst ends (rate 1/on) or its next arrival comes (rate lambda), whichever is
    first: gaps inside a burst have mean 1/(lambda + 1/on), and taking their rate for
    lambda overstated it by 1/on (10% at 200 us) and the offered rate by 18-30%. The
    rate within 2%, and the fitted process offers the rate observed within 1%. With
    silences of 300 us, a fifth of them shorter than three gaps, the mixture takes
    some for gaps inside bursts (the rate 2.4% low): the offered rate still holds."""
    made = OnOff(50_000, on_us * 1000, off_us * 1000)
    gaps = onoff_gaps(made, 40_000, np.random.default_rng(7))
    fit = fit_onoff(np.cumsum(gaps).astype(np.int64))
    if rate_within is not None:
        assert fit.params["rate_per_s"] == pytest.approx(50_000, rel=rate_within)
    assert fit.process is not None
    again = onoff_gaps(fit.process, 200_000, np.random.default_rng(8))
    assert again.mean() == pytest.approx(gaps.mean(), rel=0.01)


def test_too_few_arrivals_say_how_many_are_needed() -> None:
    with pytest.raises(ConfigError, match="at least 20 arrivals"):
        fit_arrivals(np.arange(5) * 1000)


def test_the_report_names_the_test_and_every_family() -> None:
    doc = fit_arrivals(arrivals_of(Poisson(5_000), 1_000_000_000)).as_dict()
    assert doc["chosen"]["family"] == "poisson"
    assert [t["family"] for t in doc["tried"]] == ["periodic", "poisson", "onoff"]
    assert "Kolmogorov-Smirnov" in doc["test"]


def test_a_simulated_hosts_sources_are_fitted_back_to_what_made_them() -> None:
    """small-2socket, 1 s: each MSI a Poisson stream of 20,000/s, each vCPU's tick every
    1 ms, late by up to 1 us (uniform: a 0.5 us jitter around its middle)."""
    trace = ts.run("small-2socket", design="rfc-percpu", seed=1, duration_ms=1000).trace
    fits = fit_sources(trace)
    devices = [f for name, f in fits.items() if name.endswith(":msi0")]
    ticks = [f for name, f in fits.items() if name.endswith(":timer")]
    assert len(devices) == 2 and len(ticks) == 8
    for fit in devices:
        assert fit.chosen.family == "poisson"
        assert abs(fit.chosen.params["rate_per_s"] / 20_000 - 1) < 0.02
    for fit in ticks:
        assert fit.chosen.family == "periodic"
        assert fit.chosen.params["period_ns"] == 1_000_000
        assert abs(fit.chosen.params["jitter_ns"] - 500) < 25


def test_a_captures_sources_are_fitted_from_their_handlers() -> None:
    capture = import_ftrace(Path(__file__).parent / "data" / "ftrace" / "capture-perf-script.txt")
    times = source_arrivals(capture)
    assert len(times["irq36:virtio1-req.0"]) == 104  # its handler entries
    fits = fit_sources(capture)
    assert set(fits) == {"irq36:virtio1-req.0", "local_timer"}


@pytest.mark.parametrize("seed", range(1, 9))
def test_a_short_poisson_stream_is_not_taken_for_a_jittered_clock(seed: int) -> None:
    """With a jitter near half its period, a periodic fit puts any stream's residuals
    near uniform: two arrivals on one tick must refuse it (2,000 arrivals of 20,000/s)."""
    fit = fit_arrivals(arrivals_of(Poisson(20_000), 100_000_000, seed))
    assert fit.chosen.family == "poisson"
    assert {f.family: f.process for f in fit.fits}["periodic"] is None


def test_a_simulations_arrivals_are_its_arrived_interrupts() -> None:
    """Every arrival once: raised, merged into the pending LAPIC request, held by the
    device or polled; a delivery merged into the guest's pending vector is not another."""
    params = {"device_model": "open", "irq_rate_per_s": 200_000}  # deliveries do merge
    trace = ts.run("small-2socket", design="xen-4.4-global", seed=1, duration_ms=20, params=params)
    trace = trace.trace
    counts = irq_counts(trace, kinds=("device",))
    times = source_arrivals(trace)
    assert sum(c.virq_coalesced for c in counts.values()) > 0
    for name, c in counts.items():
        assert len(times[name]) == c.arrived, name


def test_two_arrivals_on_one_tick_refuse_the_periodic_fit() -> None:
    rng = np.random.default_rng(5)
    clock = np.arange(1_000) * 1_000_000 + rng.integers(-1_000, 1_000, 1_000)
    doubled = np.sort(np.concatenate([clock, clock[::10] + 200]))  # every tenth fires twice
    fit = fit_periodic(doubled)
    assert fit.process is None and fit.params["ticks_shared"] == 100
    assert fit_periodic(np.sort(clock)).process is not None
