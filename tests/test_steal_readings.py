"""Steal and lock time as a guest reads them, on a hand-worked trace.

One vCPU (``dv0``, an idle guest at HZ=1000), over 10 ms:

====== ========== =================================================
ms     runstate   what happens
====== ========== =================================================
0      blocked
1.0    runnable   woken (its tick is due)
3.5    running    VM entry, its tick injected; steal clock 2.5 ms
3.6               VM exit; its pCPU spins on a lock until 3.9
4.0    blocked
5.0    runnable   woken
5.2    running    VM entry, its tick injected (clock 2.7 ms), and
                  its ``oneshot`` timer's (not a tick)
5.5    runnable   VM exit, preempted (not woken)
6.0    running    VM entry
6.5               its tick injected (clock 3.2 ms)
7.0    blocked    VM exit
====== ========== =================================================

RUNNING 0.5 + 0.3 + 1.0 = 1.8 ms, RUNNABLE 2.5 + 0.2 + 0.5 = 3.2 ms (2.7 of it
woken), BLOCKED 5.0 ms, guest mode 0.1 + 0.3 + 1.0 = 1.4 ms; lock spinning in
RUNNING 0.3 ms. The ticks, as ``steal_account_process_tick`` accounts them:
at 3.5, 2 whole ticks of steal (the tick itself not accounted, 0.5 ms carried);
at 5.2, 0.7 ms since: no steal, one tick of idle; at 6.5, 1.2 ms: one tick of
steal. Periodic-tick total: 3 ms of steal, 1 ms of the rest.
"""

from __future__ import annotations

import pytest

import taskletsim as ts
from taskletsim.core.events import EventKind as K
from taskletsim.core.recorder import TraceRecorder
from taskletsim.core.trace import IrqInfo, Trace, VcpuInfo
from taskletsim.metrics import lock_wait_in_running, measure, vcpu_times
from taskletsim.metrics.runstates import RunstateTracker
from taskletsim.metrics.steal import (
    STEAL_READINGS,
    guest_tick_ns,
    lock_readings,
    periodic_tick_accounting,
)
from taskletsim.output.documents import times_json
from taskletsim.runner.summary import run_summary

US = 1_000
MS = 1_000_000

ROWS = [
    (0, 0, K.RUNSTATE_CHANGE, 0, 2),
    (1000 * US, 0, K.RUNSTATE_CHANGE, 0, 1),
    (3500 * US, 0, K.RUNSTATE_CHANGE, 0, 0),
    (3500 * US, 0, K.VIRQ_INJECT, 0, 0),
    (3500 * US, 0, K.VM_ENTRY, 0, 0),
    (3600 * US, 0, K.VM_EXIT, 0, 1),
    (3600 * US, 0, K.LOCK_CONTEND, 0, 0),
    (3900 * US, 0, K.LOCK_ACQUIRE, 0, 3600 * US),
    (3950 * US, 0, K.LOCK_RELEASE, 0, 0),
    (4000 * US, 0, K.RUNSTATE_CHANGE, 0, 2),
    (5000 * US, 1, K.RUNSTATE_CHANGE, 0, 1),
    (5200 * US, 0, K.RUNSTATE_CHANGE, 0, 0),
    (5200 * US, 0, K.VIRQ_INJECT, 0, 0),
    (5200 * US, 0, K.VIRQ_INJECT, 1, 0),
    (5200 * US, 0, K.VM_ENTRY, 0, 0),
    (5500 * US, 0, K.VM_EXIT, 0, 1),
    (5500 * US, 0, K.RUNSTATE_CHANGE, 0, 1),
    (6000 * US, 0, K.RUNSTATE_CHANGE, 0, 0),
    (6000 * US, 0, K.VM_ENTRY, 0, 0),
    (6500 * US, 0, K.VIRQ_INJECT, 0, 0),
    (7000 * US, 0, K.VM_EXIT, 0, 12),
    (7000 * US, 0, K.RUNSTATE_CHANGE, 0, 2),
]


def hand_trace(tick_hz: float | None = 1000.0) -> Trace:
    rec = TraceRecorder()
    rec.names.add("vcpu", "dv0")
    rec.names.add("lock", "l")
    for name in ("dv0:timer", "dv0:oneshot"):
        rec.names.add("irq", name)
        rec.meta.irq.append(IrqInfo(name, "timer", 0))
    rec.meta.vcpus["dv0"] = VcpuInfo("d", "idle")
    rec.meta.cpu_socket = [0, 0]
    rec.meta.duration_ns = 10 * MS
    if tick_hz is not None:
        rec.meta.model = {"params": {"tick_hz": tick_hz}}
    for t, cpu, kind, subject, arg in ROWS:
        rec.append((t, cpu, int(kind), subject, arg))
    return rec.finish()


def test_runstate_totals_of_the_hand_trace() -> None:
    t = vcpu_times(hand_trace())["dv0"]
    assert (t.running_ns, t.runnable_ns, t.blocked_ns, t.offline_ns) == (
        1800 * US,
        3200 * US,
        5000 * US,
        0,
    )
    assert t.guest_ns == 1400 * US
    assert t.woken_runnable_ns == 2700 * US


def test_each_steal_reading_by_hand() -> None:
    t = vcpu_times(hand_trace())["dv0"]
    assert t.steal_pct == pytest.approx(100 * 3.2 / 10)
    assert t.steal_top_nohz_pct == pytest.approx(100 * 3.2 / (10 + 2.7))
    assert (t.periodic_steal_ns, t.periodic_other_ns) == (3 * MS, 1 * MS)
    assert t.steal_top_periodic_pct == pytest.approx(75.0)
    assert t.runnable_share_of_wanted_pct == pytest.approx(100 * 3.2 / (3.2 + 1.8))
    assert t.runnable_share_of_wanted_guest_pct == pytest.approx(100 * 3.2 / (3.2 + 1.4))


def test_the_guests_hz_sets_the_periodic_reading() -> None:
    """At HZ=250 (4 ms ticks) no handled tick sees a whole tick of steal: three ticks of
    idle; the run's ``tick_hz`` says it, or ``tick_ns`` when the trace does not."""
    at_250 = vcpu_times(hand_trace(250.0))["dv0"]
    assert (at_250.periodic_steal_ns, at_250.periodic_other_ns) == (0, 12 * MS)
    assert vcpu_times(hand_trace(None), tick_ns=4 * MS)["dv0"] == at_250
    assert guest_tick_ns(hand_trace(None).meta) == 1 * MS  # the documented default
    assert guest_tick_ns(hand_trace(250.0).meta) == 4 * MS


def test_the_tracker_reads_the_same_from_the_events() -> None:
    trace = hand_trace()
    tracker = RunstateTracker(0, 10 * MS, trace.meta)
    names = ("time_ns", "cpu", "kind", "subject", "arg")
    rows = trace.of_kinds(*RunstateTracker.KINDS)
    tracker.consume(tuple(trace.columns[n][rows].tolist() for n in names))
    assert tracker.times(trace.names) == vcpu_times(trace)


def test_a_window_starts_the_steal_clock_and_the_carry_at_zero() -> None:
    """From 5 ms: RUNNABLE 0.2 + 0.5 ms, the tick at 5.2 sees 0.2 ms (idle), the one at
    6.5 sees 0.7 ms (idle): no whole tick of steal; the woken wait clipped to 0.2 ms."""
    t = vcpu_times(hand_trace(), 5 * MS)["dv0"]
    assert (t.runnable_ns, t.woken_runnable_ns) == (700 * US, 200 * US)
    assert (t.periodic_steal_ns, t.periodic_other_ns) == (0, 2 * MS)


def test_periodic_accounting_carries_the_remainder() -> None:
    """Steal clock 0.6, 1.2, 1.9, 4.0 ticks: 0, 1, 1, 4 whole ticks accounted; the first
    and third account none (2 ticks of the rest), 4 ticks of steal in all."""
    clock = [600, 1200, 1900, 4000]
    assert periodic_tick_accounting(clock, 1000) == (4000, 2000)  # type: ignore[arg-type]


def test_lock_readings_by_hand() -> None:
    spun = lock_wait_in_running(hand_trace())["dv0"]
    assert spun == 300 * US
    assert lock_readings(spun, 1800 * US, 10 * MS) == pytest.approx(
        {"lock_wait_pct_of_running": 100 * 0.3 / 1.8, "lock_wait_ms_per_30ms_wall": 0.9}
    )


def test_every_new_json_key_of_a_vcpu_by_hand() -> None:
    m = measure(hand_trace())
    doc = times_json(m.vcpus["dv0"], m.lock_wait["dv0"])
    assert doc == pytest.approx(
        {
            "running_ns": 1800 * US,
            "runnable_ns": 3200 * US,
            "blocked_ns": 5000 * US,
            "offline_ns": 0,
            "guest_ns": 1400 * US,
            "hv_ns": 400 * US,
            "woken_runnable_ns": 2700 * US,
            "periodic_steal_ns": 3 * MS,
            "periodic_other_ns": 1 * MS,
            "steal_pct": 32.0,
            "steal_top_nohz_pct": 100 * 3.2 / 12.7,
            "steal_top_periodic_pct": 75.0,
            "runnable_share_of_wanted_pct": 64.0,
            "runnable_share_of_wanted_guest_pct": 100 * 3.2 / 4.6,
            "hv_pct": 100 * 0.4 / 1.8,
            "lock_wait_ns": 300 * US,
            "lock_wait_pct_of_running": 100 * 0.3 / 1.8,
            "lock_wait_ms_per_30ms_wall": 0.9,
        }
    )
    assert list(doc).index("steal_top_nohz_pct") == list(doc).index("steal_pct") + 1


def test_a_runs_json_and_summary_carry_every_reading() -> None:
    """Per vCPU and per domain in the JSON; per guest class in the comparison's summary,
    each the class's sums read the same way."""
    result = ts.run("small-2socket", seed=1, duration_ms=20, warmup_ms=5)
    doc = ts.run_json(result)
    keys = {*STEAL_READINGS, "lock_wait_pct_of_running", "lock_wait_ms_per_30ms_wall"}
    for entry in (*doc["vcpus"].values(), *doc["domains"].values()):
        assert keys <= set(entry)
    summary = run_summary(result)
    idle = result.measured().class_times()["idle"]
    for reading in STEAL_READINGS:
        assert summary[f"idle.{reading}"] == getattr(idle, reading)
    assert idle.periodic_other_ns > 0  # the idle guests handled ticks
    spun = sum(ns for name, ns in result.measured().lock_wait.items() if name.startswith("idle"))
    assert summary["idle.lock_wait_ms_per_30ms_wall"] == pytest.approx(spun / idle.window_ns * 30)
