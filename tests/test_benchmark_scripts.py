"""benchmarks/: what instructions.py reads from cachegrind, how it divides, what a child runs;
run.py's skeleton of the model."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("instructions", BENCHMARKS / "instructions.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SUMMARY = """==12== Cachegrind, a cache and branch-prediction profiler
==12== Command: python instructions.py --child host rfc-percpu 2
==12==
==12== I   refs:      1,340,062,918
"""


def test_parse_refs_reads_the_summary(script: ModuleType) -> None:
    assert script.parse_refs(SUMMARY) == 1_340_062_918
    assert script.parse_refs("==7== I refs: 12") == 12
    with pytest.raises(ValueError, match="I refs"):
        script.parse_refs("==12== Command: python\n")


def test_per_unit_is_the_slope_between_two_runs(script: ModuleType) -> None:
    assert script.per_unit((1_000, 10), (4_000, 40)) == 100.0
    with pytest.raises(ValueError, match="no more units"):
        script.per_unit((1_000, 10), (4_000, 10))


@pytest.mark.parametrize(
    ("workload", "units"),
    [
        (["mm1", "-", "0.5"], 400),
        (["mm1-draws", "-", "0.5"], 400),
        (["timeouts", "-", "1000"], 960),
        (["skeleton", "chain", "20"], 640),
        (["skeleton", "flat", "20"], 640),
        (["lock", "ticket", "0.5"], None),
        (["host", "rfc-percpu", "0.2"], None),
    ],
)
def test_a_child_runs_its_workload_and_prints_its_units(
    script: ModuleType,
    workload: list[str],
    units: int | None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # the child puts benchmarks/ first
    script.child(workload)
    printed = int(capsys.readouterr().out.split()[-1])
    if units is not None:
        assert printed == units
    else:
        assert printed > 50  # acquisitions or trace events of a short run


def test_the_skeleton_does_the_same_work_in_both_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    """benchmarks/run.py's skeleton: every CPU emits its events, and the chain of
    generators and the flat generator give the same trace (only their shape differs)."""
    monkeypatch.setattr(sys, "path", [str(BENCHMARKS), *sys.path])
    import run as bench

    from taskletsim.core.sim import Simulation

    traces = []
    for flat in (False, True):
        sim = Simulation(1)
        bench.build_skeleton(sim, 300, flat, 4)
        sim.run(300 * 1000)
        traces.append(sim.trace.finish())
    chain, flat_trace = traces
    assert len(chain) == len(flat_trace) == 4 * 300
    for column in ("time_ns", "cpu"):
        assert (chain.columns[column] == flat_trace.columns[column]).all()
    assert chain.time_ns[-1] > 300 * 37  # each event came after a sleep


@pytest.mark.parametrize("flat", [False, True])
def test_the_skeleton_sleeps_as_documented(flat: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each event comes after its drawn gap, and every third event is followed by a
    50 ns sleep more (1.33 sleeps per event): a CPU's last row is at their sum."""
    monkeypatch.setattr(sys, "path", [str(BENCHMARKS), *sys.path])
    import run as bench

    from taskletsim.core.sim import Simulation

    sim = Simulation(1)
    bench.build_skeleton(sim, 300, flat, 4)
    sim.run(300 * 1000)
    trace = sim.trace.finish()
    for cpu in range(4):
        gaps = sum(37 + (i * 7919 + cpu * 104729) % 300 for i in range(300))
        extra = 50 * sum(1 for i in range(299) if i % 3 == 0)
        assert trace.time_ns[trace.cpu == cpu][-1] == gaps + extra


def test_check_fails_on_a_rise_above_the_tolerance(
    script: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """``--check`` against a stored baseline: within 5% passes, above fails, naming it."""
    import json

    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({
        "python": "3.11.7", "per_event": {"rfc-percpu": 1000.0},
        "per_acquisition": {"ttas": 2000.0},
    }))  # fmt: skip

    def counted(event: float, acquisition: float) -> None:
        now = {"per_event": {"rfc-percpu": event}, "per_acquisition": {"ttas": acquisition}}
        monkeypatch.setattr(script, "current", lambda d, k: now)

    counted(1049.0, 1900.0)
    assert script.check(baseline, ["rfc-percpu"], ["ttas"]) == 0
    counted(1000.0, 2101.0)
    assert script.check(baseline, ["rfc-percpu"], ["ttas"]) == 1
    assert "rose more than 5%: ttas" in capsys.readouterr().out


def test_the_stored_baseline_covers_every_design_and_lock_kind(script: ModuleType) -> None:
    import json

    import taskletsim as ts

    stored = json.loads((BENCHMARKS / "instructions_baseline.json").read_text())
    assert set(stored["per_event"]) == set(ts.scenario_designs(ts.get_scenario("small-2socket")))
    assert set(stored["per_acquisition"]) == set(ts.LOCK_KINDS.names(builtin=True))
    assert stored["sizes"] == {k: list(v) for k, v in script.QUICK.items()}
