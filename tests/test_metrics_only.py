"""Metrics-only runs: the same numbers as the trace-based metrics, without the trace."""

from __future__ import annotations

import gc
import json
import tracemalloc
from dataclasses import replace

import pytest

import taskletsim as ts
from taskletsim import ConfigError, measure, run
from taskletsim.core.events import EventKind
from taskletsim.metrics import LockStats, Measurements
from taskletsim.metrics.common import Tracker
from taskletsim.metrics.counts import ValueCounts
from taskletsim.metrics.irqs import IrqCountTracker, irq_counts
from taskletsim.metrics.latency import LatencyTracker, irq_latency_split
from taskletsim.metrics.locks import LockTracker, lock_stats, lock_wait_histograms
from taskletsim.metrics.measure import LATENCY_KINDS
from taskletsim.metrics.online import OnlineMetrics
from taskletsim.metrics.runstates import (
    LockWaitTracker,
    RunstateTracker,
    lock_wait_in_running,
    vcpu_times,
)
from taskletsim.output.documents import run_json
from taskletsim.output.tables import format_run

from .helpers import XEN_DESIGNS, taskletsim_cli

DESIGNS = XEN_DESIGNS


def _both(scenario: str, **kw: object) -> tuple[Measurements, Measurements, str, str]:
    full = run(scenario, **kw)  # type: ignore[arg-type]
    lean = run(scenario, metrics_only=True, **kw)  # type: ignore[arg-type]
    assert len(lean.trace) == 0 and lean.measurements is not None
    by_trace = measure(full.trace, full.warmup_ns, full.duration_ns)
    return by_trace, lean.measured(), full.digest, lean.digest


def _substantial(m: Measurements) -> None:
    """The comparison is not vacuous: locks contended, interrupts through every stage."""
    assert any(s.contentions for s in m.locks.values())
    stages = {stage for per_source in m.latency.values() for stage in per_source}
    assert stages == {"handler", "tasklet", "virq"}
    assert sum(len(v) for s in m.latency.values() for v in s.values()) > 100
    assert any(t.runnable_ns for t in m.vcpus.values())
    assert any(m.lock_wait.values()) or not any(s.contentions for s in m.locks.values())


@pytest.mark.parametrize("design", DESIGNS)
def test_seed_host_online_equals_trace_based(design: str) -> None:
    by_trace, online, d_full, d_lean = _both(
        "xen-8socket-passthrough", design=design, seed=2, duration_ms=6, warmup_ms=1.5
    )
    _substantial(by_trace)
    assert online.same_as(by_trace)
    assert d_lean == d_full  # the digest of the trace it did not keep


@pytest.mark.parametrize("design", DESIGNS)
def test_small_host_from_time_zero_online_equals_trace_based(design: str) -> None:
    by_trace, online, d_full, d_lean = _both(
        "small-2socket",
        design=design,
        seed=3,
        duration_ms=8,
        params={"irq_rate_per_s": 60000, "lock": "ticket"},
    )
    assert by_trace.start_ns == 0
    assert online.same_as(by_trace) and d_lean == d_full


@pytest.mark.parametrize("lock", ["ttas", "ticket", "mcs"])
def test_lock_open_online_equals_trace_based(lock: str) -> None:
    by_trace, online, _, _ = _both(
        "lock-open", seed=1, duration_ms=3, warmup_ms=0.5, params={"lock": lock, "rate_per_s": 6e5}
    )
    assert by_trace.locks["lock"].contentions > 100
    assert online.same_as(by_trace)


def test_same_as_sees_a_single_difference() -> None:
    by_trace, online, _, _ = _both("small-2socket", design="xen-4.4-global", seed=1, duration_ms=4)
    assert online.same_as(by_trace)
    name, stats = next(iter(online.locks.items()))
    changed = replace(stats, contentions=stats.contentions + 1)
    assert isinstance(changed, LockStats)
    assert not replace(online, locks={**online.locks, name: changed}).same_as(by_trace)
    source = next(iter(online.latency_counts))
    latency = {**online.latency_counts, source: dict(online.latency_counts[source])}
    handler = latency[source]["handler"]
    latency[source]["handler"] = ValueCounts(handler.values + 1, handler.counts)
    assert not replace(online, latency_counts=latency).same_as(by_trace)
    vname = next(iter(online.lock_wait))
    assert not replace(online, lock_wait={**online.lock_wait, vname: -1}).same_as(by_trace)


def test_reports_read_the_same_numbers() -> None:
    kw = {"design": "xen-4.4-global", "seed": 1, "duration_ms": 5.0, "warmup_ms": 1.0}
    full, lean = run("small-2socket", **kw), run("small-2socket", metrics_only=True, **kw)  # type: ignore[arg-type]
    a, b = run_json(full), run_json(lean)
    a.pop("wall_s"), b.pop("wall_s")
    spec_a, spec_b = a.pop("spec"), b.pop("spec")
    assert {k for k in spec_a if spec_a[k] != spec_b[k]} == {"metrics_only"}
    assert a == b and a["events"] > 0

    def body(text: str) -> str:
        return text.split("\n", 1)[1]  # the first line has the wall time

    assert body(format_run(full)) == body(format_run(lean))


def test_cli_metrics_only_json_matches() -> None:
    args = ["run", "small-2socket", "--duration-ms", "4", "--seed", "2", "--json"]
    full, lean = taskletsim_cli(*args), taskletsim_cli(*args, "--metrics-only")
    assert full.returncode == 0 and lean.returncode == 0, lean.stderr
    a, b = json.loads(full.stdout), json.loads(lean.stdout)
    for doc in (a, b):
        for r in doc["runs"]:
            r.pop("wall_s")
            r["spec"].pop("metrics_only")  # what was asked for differs there, and only there
    assert a == b


def test_metrics_only_refuses_what_needs_a_trace() -> None:
    out = taskletsim_cli("run", "lock-open", "--metrics-only", "--save-trace", "t.parquet")
    assert out.returncode == 2 and "--save-trace" in out.stderr
    with pytest.raises(ConfigError) as info:
        run("lock-open", metrics_only=True, kinds=())
    assert info.value.field == "kinds"


def _peak(duration_ms: float, metrics_only: bool) -> tuple[int, int]:
    gc.collect()
    tracemalloc.start()
    try:
        result = run(
            "small-2socket",
            design="rfc-percpu",
            seed=1,
            duration_ms=duration_ms,
            warmup_ms=1,
            metrics_only=metrics_only,
        )
        events = result.measured().events
        return tracemalloc.get_traced_memory()[1], events
    finally:
        tracemalloc.stop()


def test_memory_grows_with_samples_only_not_with_the_trace() -> None:
    (full_short, n_short), (full_long, n_long) = _peak(10, False), _peak(40, False)
    (lean_short, _), (lean_long, _) = _peak(10, True), _peak(40, True)
    events = n_long - n_short
    full_per_event = (full_long - full_short) / events
    lean_per_event = (lean_long - lean_short) / events
    assert lean_per_event < 10
    assert lean_per_event < full_per_event / 4


def test_metrics_only_memory_is_flat_but_for_distinct_values() -> None:
    """From 40 to 160 ms the peak grows only with the distinct latencies and interval
    lengths the counts hold: 0.4 B per further event here; holding a raise row (six
    ints) per interrupt and every sample, as the bookkeeping once did, took 4.2."""
    (short, n_short), (long, n_long) = _peak(40, True), _peak(160, True)
    assert n_long > 3 * n_short
    assert (long - short) / (n_long - n_short) < 2


@pytest.mark.parametrize("design", DESIGNS)
def test_an_interrupt_is_held_only_while_a_stage_is_to_come(design: str) -> None:
    """Fed a run's events a chunk at a time, the online metrics hold at most a few raise
    times per source at any point (the interrupts in flight), over ~1800 raises."""
    full = run("small-2socket", design=design, seed=2, duration_ms=40, warmup_ms=1)
    trace = full.trace
    online = OnlineMetrics(full.warmup_ns, full.duration_ns, trace.meta)
    columns = {c: getattr(trace, c) for c in ("time_ns", "cpu", "kind", "subject", "arg")}
    most = 0
    for lo in range(0, len(trace), 5000):
        online.consume({c: v[lo : lo + 5000] for c, v in columns.items()})
        most = max(most, online.held())
    sources = [s for s in trace.meta.irq if s.kind in LATENCY_KINDS]
    assert len(trace.rows(EventKind.IRQ_RAISE)) > 1000
    assert 0 < most <= 2 * len(sources)
    by_trace = measure(trace, full.warmup_ns, full.duration_ns)
    assert online.finish(trace.names, trace.meta).same_as(by_trace)


@pytest.mark.parametrize("design", DESIGNS)
def test_measure_on_threads_equals_measure_in_one(design: str) -> None:
    """The metrics run side by side on threads by default: the same numbers as one by one."""
    full = run("xen-8socket-passthrough", design=design, seed=3, duration_ms=4, warmup_ms=1)
    one = measure(full.trace, full.warmup_ns, full.duration_ns, threads=1)
    _substantial(one)
    for threads in (2, 5):
        assert measure(full.trace, full.warmup_ns, full.duration_ns, threads=threads).same_as(one)


def test_samples_are_expanded_from_the_counts_once() -> None:
    """``latency`` and ``pending`` give every sample, sorted, from the counts the record
    holds; expanded the first time they are read, not at each read."""
    m = run("small-2socket", design="rfc-percpu", seed=1, duration_ms=4, metrics_only=True)
    measured = m.measured()
    assert measured.latency is measured.latency and measured.pending is measured.pending
    for source, stages in measured.latency_counts.items():
        for stage, counts in stages.items():
            samples = measured.latency[source][stage]
            assert len(samples) == counts.count and bool((samples[1:] >= samples[:-1]).all())


def test_a_run_longer_than_the_counts_hold_is_refused_metrics_only() -> None:
    """The counts hold values below 2**44 ns; every latency and interval is below the
    run's end, so only a run longer than that (4.9 simulated hours) is refused, at once."""
    with pytest.raises(ConfigError) as caught:
        run("small-2socket", duration_ms=2e7, metrics_only=True)
    assert caught.value.field == "duration_ms" and "17592186 ms" in str(caught.value)


# -- each metric's tracker against its batch function ------------------------------------


def _fed(tracker: Tracker, trace: ts.Trace, chunk: int = 997) -> Tracker:
    """``tracker`` given the trace's events of its kinds, chunk by chunk (an odd chunk size:
    chunks end anywhere in a chain of events)."""
    rows = trace.of_kinds(*tracker.KINDS)
    names = ("time_ns", "cpu", "kind", "subject", "arg")
    for lo in range(0, len(rows), chunk):
        part = rows[lo : lo + chunk]
        tracker.consume(tuple(trace.columns[n][part].tolist() for n in names))
    return tracker


@pytest.mark.parametrize("design", DESIGNS)
def test_each_tracker_gives_what_its_batch_function_gives(design: str) -> None:
    """Every metric two ways: its tracker fed the events of its kinds, and its function of
    the whole trace; equal, floats exactly (the same window, from the warm-up)."""
    r = run("xen-8socket-passthrough", design=design, seed=5, duration_ms=4, warmup_ms=1)
    trace, start, end = r.trace, r.warmup_ns, r.duration_ns
    locks = _fed(LockTracker(start, end, trace.meta), trace)
    assert locks.stats(trace.names) == lock_stats(trace, start, end)
    hist = lock_wait_histograms(trace, start, end)
    assert {k: v.tolist() for k, v in locks.histograms(trace.names).items()} == {
        k: v.tolist() for k, v in hist.items()
    }
    times = _fed(RunstateTracker(start, end, trace.meta), trace).times(trace.names)
    assert times == vcpu_times(trace, start, end) and any(t.runnable_ns for t in times.values())
    waits = _fed(LockWaitTracker(start, end), trace).waits(trace.names)
    assert waits == lock_wait_in_running(trace, start, end)
    counts = _fed(IrqCountTracker(start, end), trace).irq_counts(trace.meta, LATENCY_KINDS)
    assert counts == irq_counts(trace, start, end, LATENCY_KINDS)
    done, pending = _fed(
        LatencyTracker(start, end, trace.meta, LATENCY_KINDS), trace
    ).latency_split(trace.meta)
    want_done, want_pending = irq_latency_split(trace, start, end, LATENCY_KINDS)
    assert done == {s: {k: ValueCounts.of(v) for k, v in st.items()} for s, st in want_done.items()}
    assert pending == {
        s: {k: ValueCounts.of(v) for k, v in st.items()} for s, st in want_pending.items()
    }
    assert sum(c.count for st in done.values() for c in st.values()) > 100
