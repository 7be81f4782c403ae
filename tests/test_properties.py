"""Property tests over random small hosts, written as TOML host files, x every registered
design: the invariant checker finds nothing, and every metric equals the brute-force
reference of ``tests/reference.py`` recomputed from the raw events.

Run longer with ``pytest tests/test_properties.py --hypothesis-profile=long``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskletsim import run
from taskletsim.designs import get_design
from taskletsim.metrics.latency import Latency

from . import reference as ref
from .helpers import XEN_DESIGNS

COSTS = (
    "vmexit_ns", "vmentry_ns", "irq_entry_ns", "irq_exit_ns", "softirq_dispatch_ns",
    "ipi_latency_ns", "tasklet_list_ns", "hvm_dirq_assist_ns", "schedule_ns",
    "context_switch_ns", "inject_ns", "eoi_exit_ns", "guest_isr_ns", "guest_tick_ns",
)  # fmt: skip


@st.composite
def devices(draw: st.DrawFn, vcpus: int) -> dict[str, Any]:
    device: dict[str, Any] = {"vcpu": draw(st.integers(0, vcpus - 1))}
    process = draw(st.sampled_from(["poisson", "periodic", "onoff"]))
    device["process"] = process
    device["rate_per_s"] = draw(st.sampled_from([1e4, 5e4, 2e5, 5e5]))
    if process == "onoff":
        device["on_us"] = draw(st.sampled_from([20.0, 100.0]))
        device["off_us"] = draw(st.sampled_from([50.0, 400.0]))
    if draw(st.booleans()):
        device["itr_us"] = draw(st.sampled_from([5.0, 20.0, 100.0]))
    device["model"] = draw(st.sampled_from(["open", "eoi", "napi"]))
    device["delivery"] = draw(st.sampled_from(["vlapic", "evtchn"]))
    device["count"] = draw(st.integers(1, 2))
    return device


@st.composite
def hosts(draw: st.DrawFn) -> dict[str, Any]:
    """A host file: 1-4 sockets of 1-8 cores, SMT or not; busy, idle and mixed guests,
    pinned or floating, sometimes more vCPUs than pCPUs; random devices, ticks, costs
    and lock kind."""
    sockets, cores = draw(st.integers(1, 4)), draw(st.integers(1, 8))
    threads = draw(st.sampled_from([1, 2]))
    ncpus = sockets * cores * threads
    if ncpus > 24:  # keep each example quick: shrink the larger draws
        cores = max(1, 24 // (sockets * threads))
        ncpus = sockets * cores * threads
    cpu = st.integers(0, ncpus - 1)
    guests = []
    for g in range(draw(st.integers(2, 6))):
        workload = draw(st.sampled_from(["busy", "idle", "mixed"]))
        vcpus = draw(st.integers(1, 3))
        guest: dict[str, Any] = {"name": f"{workload}{g}", "workload": workload}
        home = cpu
        if draw(st.booleans()):  # free to run on any of these, starting on one of them
            guest["floating"] = draw(st.lists(cpu, min_size=1, max_size=4, unique=True))
            home = st.sampled_from(guest["floating"])
        guest["cpus"] = draw(st.lists(home, min_size=vcpus, max_size=vcpus))
        if workload == "mixed":
            guest["run_us"] = draw(st.sampled_from([100.0, 1000.0]))
            guest["block_us"] = draw(st.sampled_from([100.0, 1000.0]))
        if workload != "idle" and draw(st.integers(0, 3)):
            guest["devices"] = draw(st.lists(devices(vcpus), min_size=1, max_size=2))
        if draw(st.booleans()):
            guest["tick_mode"] = draw(st.sampled_from(["singleshot", "periodic", "free"]))
        guests.append(guest)
    params: dict[str, Any] = {
        "lock": draw(st.sampled_from(["ttas", "ticket", "mcs"])),
        "transfer_costs": draw(st.sampled_from(["perfbook-2017", "mctop-2014"])),
        "tick_hz": draw(st.sampled_from([250.0, 1000.0, 4000.0])),
        "skew_tick": draw(st.sampled_from(["off", "on"])),
        "apicv": draw(st.sampled_from(["off", "on"])),
        "irq_process": draw(st.sampled_from(["poisson", "periodic"])),
    }
    for name in draw(st.lists(st.sampled_from(COSTS), max_size=4, unique=True)):
        params[name] = draw(st.integers(0, 5000))
    duration = draw(st.sampled_from([3.0, 6.0, 10.0]))
    return {
        "schema": 1,
        "name": "random",
        "duration_ms": duration,
        "warmup_ms": draw(st.sampled_from([0.0, duration / 3])),
        "host": {"sockets": sockets, "cores_per_socket": cores, "threads_per_core": threads},
        "params": params,
        "guests": guests,
    }


def _options(design: str) -> st.SearchStrategy[dict[str, object]]:
    """Random values of a design's own options."""
    parts: dict[str, st.SearchStrategy[object]] = {}
    for p in get_design(design).options:
        if p.kind == "choice":
            parts[p.name] = st.sampled_from(p.choice_names())
        else:
            parts[p.name] = st.integers(0, 2000)
    return st.fixed_dictionaries({}, optional=parts)  # type: ignore[arg-type]


def _check_against_reference(result: Any, tick_hz: float) -> None:
    trace, m = result.trace, result.measured()
    start, end = m.start_ns, m.end_ns
    events = ref.rows(trace)
    names = trace.names
    # locks
    expected = ref.lock_stats(events, names.names("lock"), trace.meta.cpu_socket, start, end)
    assert set(m.locks) == set(expected)
    for name, stats in m.locks.items():
        r = expected[name]
        assert stats.contentions <= stats.acquisitions
        assert (stats.acquisitions, stats.contentions, stats.bounces, stats.con_bounces) == (
            r.acquisitions, r.contentions, r.bounces, r.con_bounces,
        ), name  # fmt: skip
        assert (stats.wait.count, stats.wait.total) == (len(r.waits), sum(r.waits)), name
        assert stats.wait.max == max(r.waits, default=0) and stats.wait.min == min(
            r.waits, default=0
        )
        assert (stats.hold.count, stats.hold.total) == (len(r.holds), sum(r.holds)), name
    # runstates, steal, guest time
    ticks = {i for i, s in enumerate(trace.meta.irq) if s.kind == "timer" and ":timer" in s.name}
    tick_ns = round(1e9 / tick_hz)
    vcpus = ref.vcpu_times(events, names.names("vcpu"), start, end, ticks, tick_ns)
    assert set(m.vcpus) == set(vcpus)
    for name, t in m.vcpus.items():
        r = vcpus[name]
        got = [t.running_ns, t.runnable_ns, t.blocked_ns, t.offline_ns]
        assert got == r.states, name
        assert sum(got) == end - start  # the four runstates add up to the window
        assert t.guest_ns == r.guest and 0 <= t.guest_ns <= t.running_ns, name
        steal = 100.0 * (r.states[1] + r.states[3]) / sum(r.states) if sum(r.states) else 0.0
        assert t.steal_pct == pytest.approx(steal) and 0.0 <= t.steal_pct <= 100.0
        assert t.woken_runnable_ns == r.woken <= t.runnable_ns, name
        assert (t.periodic_steal_ns, t.periodic_other_ns) == (r.periodic_steal, r.periodic_other)
        for k, state in enumerate(("running", "runnable", "blocked", "offline")):
            summary = t.intervals[state]
            assert (summary.count, summary.total_ns) == (len(r.intervals[k]), sum(r.intervals[k]))
            assert summary.p50_ns == ref.percentile(r.intervals[k], 50.0)
            assert summary.p95_ns == ref.percentile(r.intervals[k], 95.0)
    # lock waiting inside RUNNING
    assert m.lock_wait == ref.lock_wait_in_running(events, vcpus, start, end)
    # interrupt latency and counts
    sources = trace.meta.irq
    latency = ref.latency(events, [s.kind for s in sources], start, end)
    assert set(m.latency) == {sources[s].name for s in latency}
    for s, stages in latency.items():
        name = sources[s].name
        assert set(m.latency[name]) == set(stages), name
        for stage, (done, pending) in stages.items():
            assert m.latency[name][stage].tolist() == sorted(done), (name, stage)
            assert m.pending[name][stage].tolist() == sorted(pending), (name, stage)
            assert all(v >= 0 for v in done)
            lat = Latency.of(np.array(done, dtype=np.int64))
            for p, value in ((50.0, lat.p50_ns), (99.0, lat.p99_ns), (99.9, lat.p999_ns)):
                assert value == ref.percentile(done, p), (name, stage, p)
    counts = ref.irq_counts(events, start, end)
    for s, info in enumerate(sources):
        if info.kind not in ("device", "timer"):
            continue
        c, r = m.irqs[info.name], counts.get(s, {})
        for key in ("raised", "coalesced", "held", "polled", "virq_coalesced", "injected"):
            assert getattr(c, key) == r.get(key, 0), (info.name, key)


@pytest.mark.parametrize("design", XEN_DESIGNS)
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_random_hosts_keep_the_invariants_and_the_reference_numbers(
    design: str, data: st.DataObject
) -> None:
    host = data.draw(hosts(), label="host")
    options = data.draw(_options(design), label="options")
    seed = data.draw(st.integers(0, 2**32), label="seed")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "host.toml"
        path.write_text(tomli_w.dumps(host))
        result = run(str(path), design=design, seed=seed, params=options)  # checks invariants
    assert result.trace.meta.lock_kind == host["params"]["lock"]
    _check_against_reference(result, host["params"]["tick_hz"])


PERIODIC = """
schema = 1
name = "periodic"
duration_ms = 1.0
[host]
sockets = 1
cores_per_socket = 1
[[guests]]
name = "mixed0"
workload = "mixed"
cpus = [0, 0]
run_us = 100.0
block_us = 100.0
tick_mode = "periodic"
"""


@pytest.mark.parametrize("design", XEN_DESIGNS)
def test_a_tick_sent_by_schedule_needs_no_interrupt(design: str, tmp_path: Path) -> None:
    """Found by the property test: with a periodic timer, ``schedule()`` sends a tick that
    fell due while the vCPU was descheduled (``vcpu_periodic_timer_work``), with no
    interrupt raised for it; ``virq-raised`` used to call that a broken invariant."""
    from taskletsim.core.events import EventKind

    path = tmp_path / "periodic.toml"
    path.write_text(PERIODIC)
    result = run(str(path), design=design, seed=0)  # the invariants hold
    trace = result.trace
    exempt = trace.meta.extra["scheduler_ticks"]
    assert [trace.meta.irq[s].name for s in exempt] == ["mixed0v0:timer", "mixed0v1:timer"]
    injected = trace.kind == EventKind.VIRQ_INJECT
    raised = trace.kind == EventKind.IRQ_RAISE
    sent = [
        s
        for s in exempt
        if (injected & (trace.subject == s)).sum() > (raised & (trace.subject == s)).sum()
    ]
    assert sent, "no tick was sent by schedule(): the case is not exercised"
