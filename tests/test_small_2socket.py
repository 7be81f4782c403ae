"""The ``small-2socket`` scenario end to end: CLI, JSON, latency, invariants."""

from __future__ import annotations

import json

import numpy as np
import pytest

import taskletsim as ts
from taskletsim.core.events import EventKind as K
from taskletsim.metrics import check_trace

from .helpers import taskletsim_cli


@pytest.fixture(scope="module")
def result() -> ts.RunResult:
    return ts.run("small-2socket", seed=1, duration_ms=50)


def test_default_design_and_every_source_has_its_stages(result: ts.RunResult) -> None:
    assert result.design == "xen-4.4-global"
    check_trace(result.trace)
    latency = ts.irq_latency(result.trace)
    assert set(latency) == {"busy0:msi0", "busy1:msi0"} | {
        f"{g}v0:timer"
        for g in ["busy0", "busy1", "idle2", "idle3", "idle4", "idle5", "idle6", "idle7"]
    }
    for stages in latency.values():
        assert set(stages) == {"handler", "tasklet", "virq"}
        h, t, v = stages["handler"], stages["tasklet"], stages["virq"]
        assert h.count >= t.count >= v.count > 0
        assert h.p50_ns <= t.p50_ns <= v.p50_ns
    # 20k MSIs/s per device for 50 ms.
    assert latency["busy0:msi0"]["handler"].count == pytest.approx(1000, rel=0.1)


def test_global_lock_is_taken_about_three_times_per_interrupt(result: ts.RunResult) -> None:
    trace = result.trace
    sources = trace.meta.irq
    deferred = sum(
        int(((trace.kind == K.IRQ_ENTRY) & (trace.subject == sid)).sum())
        for sid, s in enumerate(sources)
        if s.kind in ("device", "timer")
    )
    acquisitions = ts.lock_stats(trace)["tasklet_lock"].acquisitions
    # Coalescing (an MSI while the tasklet is still queued) can only save runs.
    assert 2.7 * deferred <= acquisitions <= 3 * deferred


def test_cli_json_has_irq_latency() -> None:
    out = taskletsim_cli(
        "run", "small-2socket", "--duration-ms", "10", "--design", "xen-4.4-global", "--json"
    )
    assert out.returncode == 0, out.stderr
    (run,) = json.loads(out.stdout)["runs"]
    assert run["design"] == "xen-4.4-global"
    stage = run["irq_latency"]["busy0:msi0"]["virq"]
    assert set(stage) == {"count", "mean_ns", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns"}
    assert run["locks"]["tasklet_lock"]["acquisitions"] > 0


def test_unknown_design_is_a_config_error() -> None:
    with pytest.raises(ts.ConfigError, match="design"):
        ts.run("small-2socket", design="no-such-design", duration_ms=1)


def test_interrupt_moderation_caps_the_rate() -> None:
    """An ITR of 100 us lets at most 10k interrupts per second through, per device."""
    run = ts.run(
        "small-2socket",
        seed=2,
        duration_ms=20,
        params={"irq_rate_per_s": 50_000, "itr_us": 100},
    )
    handled = ts.irq_latency(run.trace)["busy0:msi0"]["handler"].count
    assert 150 <= handled <= 201


def test_latency_histogram_counts_every_sample(result: ts.RunResult) -> None:
    from taskletsim.metrics import irq_latency_samples

    values = irq_latency_samples(result.trace)["busy0:msi0"]["virq"]
    counts, edges = ts.latency_histogram(values, bins=20)
    assert counts.sum() == len(values)
    assert edges[0] <= values.min() and edges[-1] >= values.max()
    assert np.all(np.diff(edges) > 0)
