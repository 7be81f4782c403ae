"""``taskletsim validate``: a trace beside the model fitted to it, figure by figure."""

from __future__ import annotations

from pathlib import Path

import pytest

import taskletsim as ts
from taskletsim.runner.stats import Estimate
from taskletsim.validation import ValidationRow, format_validation, validate

from .helpers import taskletsim_cli


@pytest.fixture(scope="module")
def trace() -> ts.Trace:
    return ts.run("small-2socket", design="xen-4.4-global", seed=1, duration_ms=200).trace


def test_a_trace_validates_against_its_own_design_and_not_another(trace: ts.Trace) -> None:
    """With the design the trace came from, few figures fall outside the simulated CI
    (a single run's tail percentiles may: the CI is the mean's); with another design,
    its latencies and lock figures do."""
    own = validate(trace, seeds=3)
    assert own.design == "xen-4.4-global" and own.seeds == (1, 2, 3)
    assert len(own.rows) > 30
    assert len(own.flagged) <= 0.1 * len(own.rows)
    inside = {r.metric for r in own.rows if not r.outside}
    assert {"lock.tasklet_lock.acquisitions_per_s", "arrived_irq_per_s"} <= inside
    other = validate(trace, design="rfc-percpu", seeds=3)
    flagged = {r.metric for r in other.flagged}
    assert len(flagged) >= 3 * max(len(own.flagged), 1)
    assert {"latency.device.virq.p50_ns", "busy.lock_wait_pct_of_running"} <= flagged
    text = format_validation(own)
    assert f"{len(own.flagged)} of {len(own.rows)} figures outside" in text


def test_a_row_is_outside_only_beyond_the_ci() -> None:
    spread = Estimate.of([9.0, 10.0, 11.0])
    assert not ValidationRow("m", spread.mean + 0.9 * spread.ci95, spread).outside
    assert ValidationRow("m", spread.mean + 1.1 * spread.ci95, spread).outside
    same = Estimate.of([5.0, 5.0, 5.0])
    assert not ValidationRow("m", 5.0, same).outside and ValidationRow("m", 5.1, same).outside


def test_validate_command_writes_the_table_and_refuses_what_it_cannot_fit(
    tmp_path: Path, trace: ts.Trace
) -> None:
    saved = tmp_path / "run.parquet"
    trace.save(saved)
    page = tmp_path / "v.html"
    done = taskletsim_cli("validate", str(saved), "--seeds", "2", "--html", str(page))
    assert done.returncode == 0, done.stderr
    assert "figures outside the simulated CI" in done.stdout
    assert "lock.tasklet_lock.acquisitions_per_s" in page.read_text()
    wrong = taskletsim_cli("validate", str(saved), "--design", "linux-bh-wq")
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1
    assert "xen host" in wrong.stderr
    linux = tmp_path / "linux.parquet"
    ts.run("linux-dma", duration_ms=1, params={"channels": 2}).trace.save(linux)
    refused = taskletsim_cli("validate", str(linux), "--design", "xen-4.4-global")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "a design the trace's linux host can run (it runs on xen)" in refused.stderr
    done = taskletsim_cli("validate", str(linux), "--seeds", "2", "--design", "linux-bh-wq")
    assert done.returncode == 0, done.stderr
    assert "against design linux-bh-wq" in done.stdout
    assert "irq.dma0:msix.per_s" in done.stdout and "cpu.softirq_pct" in done.stdout
