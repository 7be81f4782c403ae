"""Step costs that are distributions: parsed and checked as parameters, drawn per step from
the run's own streams, and nothing drawn for a constant."""

from __future__ import annotations

import numpy as np
import pytest

import taskletsim as ts
from taskletsim.core.config import ConfigError, Param, parse_cost
from taskletsim.core.events import EventKind as K
from taskletsim.core.sim import Simulation
from taskletsim.platform.costs import CostDraw

from .helpers import taskletsim_cli


@pytest.mark.parametrize(
    "given, parsed",
    [
        (600, 600),
        ("600", 600),
        (" const:250 ", 250),
        ("exp:500", "exp:500"),
        ("uniform:200:400", "uniform:200:400"),
        ("lognormal:500.0:0.50", "lognormal:500:0.5"),
    ],
)
def test_a_cost_is_a_constant_or_a_distribution(given: object, parsed: object) -> None:
    assert parse_cost("rx_packet_ns", given) == parsed
    assert Param("rx_packet_ns", "cost", 600, "a cost").parse(given) == parsed


@pytest.mark.parametrize(
    "bad", [-1, "gamma:3", "exp", "exp:1:2", "uniform:400:200", "lognormal:-5:1", "exp:nan"]
)
def test_a_bad_cost_names_the_field_and_the_forms(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"^rx_packet_ns: .* expected "):
        parse_cost("rx_packet_ns", bad)


def test_draws_have_their_distributions_mean_and_spread() -> None:
    sim = Simulation(1)
    n = 40_000
    e = CostDraw(sim, "e", "exp:500")
    exp = np.array([e() for _ in range(n)], dtype=float)
    assert exp.mean() == pytest.approx(500, rel=0.02) and exp.std() == pytest.approx(500, rel=0.03)
    ln = CostDraw(sim, "l", "lognormal:800:0.5")
    logn = np.array([ln() for _ in range(n)], dtype=float)
    assert logn.mean() == pytest.approx(800, rel=0.02)
    assert logn.std() / logn.mean() == pytest.approx(0.5, rel=0.05)
    u = CostDraw(sim, "u", "uniform:200:400")
    uni = np.array([u() for _ in range(n)])
    assert uni.min() >= 200 and uni.max() <= 400 and uni.mean() == pytest.approx(300, rel=0.01)
    c = CostDraw(sim, "c", 300)
    assert c.constant == 300 and c() == 300 and c.total(7) == 2100
    assert "c" not in sim._sources.values()  # a constant registers no stream


def test_a_constant_cost_leaves_the_run_as_it_was_and_a_distribution_spreads_it() -> None:
    kw = {"design": "linux", "seed": 1, "duration_ms": 3}
    base = ts.run("linux-nic-affinity", params={"queues": 2}, **kw)
    same = ts.run("linux-nic-affinity", params={"queues": 2, "rx_packet_ns": "const:600"}, **kw)
    assert same.digest == base.digest
    drawn = ts.run(
        "linux-nic-affinity", params={"queues": 2, "irq_handler_ns": "lognormal:300:1"}, **kw
    )

    def handler_ns(r: ts.RunResult) -> np.ndarray:
        t = r.trace
        dev = {i for i, info in enumerate(t.meta.irq) if info.kind == "device"}
        entry = [(int(x), int(s)) for x, k, s in zip(t.time_ns, t.kind, t.subject, strict=True)
                 if k == int(K.IRQ_ENTRY) and s in dev]  # fmt: skip
        exits = [int(x) for x, k, s in zip(t.time_ns, t.kind, t.subject, strict=True)
                 if k == int(K.IRQ_EXIT) and s in dev]  # fmt: skip
        return np.array(exits[: len(entry)]) - np.array([e for e, _ in entry][: len(exits)])

    assert np.ptp(handler_ns(base)) < 200  # the handler's work is fixed: only its schedule varies
    assert np.ptp(handler_ns(drawn)) > 1000


def test_the_command_line_takes_a_distribution_and_refuses_a_bad_one() -> None:
    ok = taskletsim_cli(
        "run", "linux-nic-affinity", "--duration-ms", "1", "--set", "rx_packet_ns=exp:600"
    )
    assert ok.returncode == 0, ok.stderr
    bad = taskletsim_cli(
        "run", "linux-nic-affinity", "--duration-ms", "1", "--set", "rx_packet_ns=gamma:2"
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "rx_packet_ns: 'gamma:2' is not allowed" in bad.stderr


def test_an_empirical_cost_draws_between_its_quantiles() -> None:
    """``empirical:0:100:1000``: half the draws in [0, 100], half in [100, 1000], uniform
    within each (the inverse CDF linear between quantiles): mean 25 + 275 = 300."""
    sim = Simulation(1)
    draw = CostDraw(sim, "q", parse_cost("q", "empirical:0:100:1000"))
    values = np.array([draw() for _ in range(40_000)], dtype=float)
    assert values.min() >= 0 and values.max() <= 1000
    assert (values <= 100).mean() == pytest.approx(0.5, abs=0.01)
    assert values.mean() == pytest.approx(300, rel=0.02)
    with pytest.raises(ConfigError, match="quantiles not decreasing"):
        parse_cost("q", "empirical:5:3")
