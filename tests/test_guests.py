"""Guests, runstates, the credit scheduler and steal time."""

from __future__ import annotations

import numpy as np
import pytest

import taskletsim as ts
from taskletsim.core.events import EventKind as K
from taskletsim.core.recorder import TraceRecorder
from taskletsim.core.sim import Simulation
from taskletsim.core.trace import Trace
from taskletsim.hv.machine import Machine
from taskletsim.hv.schedule import vcpu_kick
from taskletsim.hv.seam import Cpu, Proc
from taskletsim.metrics import (
    check_trace,
    class_times,
    domain_times,
    lock_wait_in_running,
    vcpu_times,
)
from taskletsim.platform.arrivals import Periodic

from .helpers import events, tiny

MS = 1_000_000


def host(design: str = "xen-4.4-global", seed: int = 0) -> Machine:
    sim = Simulation(seed)
    sim.trace.meta.duration_ns = 10**12
    return Machine(sim, ts.Topology(1, 2), design=design)


def times(m: Machine, until: int, start: int = 0) -> dict[str, ts.metrics.VcpuTime]:
    m.sim.run(until)
    trace = m.sim.trace.finish()
    check_trace(trace)
    result = vcpu_times(trace, start, until)
    for t in result.values():  # conservation, exactly
        assert t.running_ns + t.runnable_ns + t.blocked_ns + t.offline_ns == until - start
    return result


def test_one_busy_vcpu_alone_has_no_steal() -> None:
    m = host()
    m.add_vcpu(m.add_domain("d"), 0, "busy")
    t = times(m, 100 * MS)["dv0"]
    assert t.steal_pct == 0.0
    assert t.running_ns == 100 * MS


def test_two_busy_vcpus_on_one_cpu_take_30_ms_turns() -> None:
    """Credit1 round robin at the 30 ms timeslice: each gets half, steal ~50%."""
    m = host()
    a = m.add_vcpu(m.add_domain("a"), 0, "busy")
    b = m.add_vcpu(m.add_domain("b"), 0, "busy")
    result = times(m, 300 * MS)
    for name in ("av0", "bv0"):
        assert result[name].steal_pct == pytest.approx(50.0, abs=1.0)
    trace = m.sim.trace.finish()
    running = (trace.kind == K.RUNSTATE_CHANGE) & (trace.arg == 0) & (trace.time_ns > 0)
    switches = trace.time_ns[running]
    who = trace.subject[running]
    assert set(who[::2]) == {b.id} and set(who[1::2]) == {a.id}  # they alternate
    gaps = np.diff(np.r_[0, switches])
    # 30 ms slices; each switch costs the timer path, schedule and a context switch
    assert np.all((gaps >= 30 * MS) & (gaps < 30 * MS + 20_000))


def test_idle_vcpu_with_1khz_tick_alone_has_almost_no_steal() -> None:
    m = host()
    v = m.add_vcpu(m.add_domain("d"), 0, "idle", burst_ns=20_000)
    m.add_tick(v, Periodic(MS, 10_000))
    t = times(m, 200 * MS)["dv0"]
    assert 0 < t.steal_pct < 0.1
    assert t.intervals["running"].count == pytest.approx(200, abs=1)


def test_wake_while_the_cpu_is_busy_in_the_hypervisor() -> None:
    """An idle vCPU of CPU 0 is kicked from CPU 1 while CPU 0 runs a 5 us tasklet.

    CPU 0 claims the long tasklet at 1194 (its function ends at 6214 if
    undisturbed). CPU 1's tasklet kicks the vCPU at 2000 + 150 (IPI) + 102
    (lock 1, line from CPU 0) + 20 + 17 (lock 2) + 20 + 100 (``vcpu_wake``):
    runnable at 2409, SCHEDULE raised on CPU 0 by an IPI (50 to send, 500 in
    flight) that interrupts the tasklet at 2959 for 150 ns: it ends at 6364.
    Lock 3 (the line from CPU 1: 102, list 20) to 6486, then SCHEDULE's
    dispatch (10): running at 6496. Runnable for 4087 ns: exactly the
    hypervisor work CPU 0 still had to do after the wake.
    """
    m = tiny()
    v = m.add_vcpu(m.add_domain("dom"), 0, "idle", burst_ns=1000)

    def long(cpu):  # type: ignore[no-untyped-def]
        yield from cpu.work(5000)

    def kick(cpu):  # type: ignore[no-untyped-def]
        yield from vcpu_kick(cpu, v)

    t_long = m.design.tasklet_init("long", long)
    t_kick = m.design.tasklet_init("kick", kick)
    m.sim.call_later(
        1000, lambda _e: m.cpus[0].call_on_cpu(lambda c: m.design.tasklet_schedule(c, t_long))
    )
    m.sim.call_later(
        2000, lambda _e: m.cpus[1].call_on_cpu(lambda c: m.design.tasklet_schedule(c, t_kick))
    )
    m.sim.run(20_000)
    assert events(m, (K.RUNSTATE_CHANGE, K.TASKLET_EXIT), until=6500) == [
        (0, 0, "RUNSTATE_CHANGE", "domv0", 2),
        (2409, 1, "RUNSTATE_CHANGE", "domv0", 1),
        (2459, 1, "TASKLET_EXIT", "kick", -1),
        (6364, 0, "TASKLET_EXIT", "long", -1),
        (6496, 0, "RUNSTATE_CHANGE", "domv0", 0),
    ]
    t = vcpu_times(m.sim.trace.finish(), 0, 20_000)["domv0"]
    assert t.runnable_ns == 4087


def test_boosted_wakeup_preempts_a_busy_vcpu() -> None:
    """An idle and a busy vCPU share a CPU: each 2 ms tick BOOSTs the idle one, which
    runs at once, since by then the busy one has run longer than the 1 ms rate limit.
    (With 1 ms ticks it would not have: credit1's rate limit would make the woken
    vCPU wait for the rest of the busy one's millisecond.)"""
    m = host()
    m.add_vcpu(m.add_domain("busy"), 0, "busy")
    idle = m.add_vcpu(m.add_domain("idle"), 0, "idle", burst_ns=20_000)
    m.add_tick(idle, Periodic(2 * MS, 0, phase_ns=500_000))
    result = times(m, 100 * MS, start=10 * MS)
    assert result["idlev0"].steal_pct < 0.5
    assert result["busyv0"].steal_pct > 1.0  # it is preempted 500 times a second


def test_rate_limit_delays_a_boosted_wakeup() -> None:
    """With a 5 ms rate limit and ticks every 2 ms, the idle vCPU often waits for the
    busy one to use up its 5 ms: its steal grows by orders of magnitude."""
    fast, slow = host(), host()
    for m, ratelimit in ((fast, 1 * MS), (slow, 5 * MS)):
        m.sched.ratelimit_ns = ratelimit
        m.add_vcpu(m.add_domain("busy"), 0, "busy")
        idle = m.add_vcpu(m.add_domain("idle"), 0, "idle", burst_ns=20_000)
        m.add_tick(idle, Periodic(2 * MS, 0, phase_ns=500_000))
    assert (
        times(slow, 100 * MS, 10 * MS)["idlev0"].steal_pct
        > 10 * times(fast, 100 * MS, 10 * MS)["idlev0"].steal_pct
    )


def test_offline_time_is_steal() -> None:
    m = host()
    v = m.add_vcpu(m.add_domain("d"), 0, "busy")
    m.sim.call_later(10 * MS, lambda _e: m.vcpu_down(v))
    m.sim.call_later(30 * MS, lambda _e: m.vcpu_up(v))
    t = times(m, 50 * MS)["dv0"]
    assert t.offline_ns == pytest.approx(20 * MS, abs=10_000)
    assert t.steal_pct == pytest.approx(40.0, abs=0.1)


def test_mixed_workload_runs_and_blocks() -> None:
    m = host()
    m.add_vcpu(m.add_domain("d"), 0, "mixed", run_ns=200_000.0, block_ns=300_000.0)
    t = times(m, 200 * MS)["dv0"]
    share = t.running_ns / (t.running_ns + t.blocked_ns + t.runnable_ns)
    assert share == pytest.approx(0.4, abs=0.05)
    assert t.intervals["blocked"].count > 300


def test_an_idle_cpu_steals_a_waiting_vcpu_in_its_affinity() -> None:
    """Two busy vCPUs start on CPU 0; the second may also run on CPU 1, which is idle."""
    m = host()
    m.add_vcpu(m.add_domain("a"), 0, "busy")
    b = m.add_vcpu(m.add_domain("b"), 0, "busy", affinity=(0, 1))
    m.cpus[1].raise_softirq(m.softirq_nr["SCHEDULE_SOFTIRQ"])
    result = times(m, 50 * MS)
    assert b.processor == 1
    assert result["bv0"].steal_pct < 0.1 and result["av0"].steal_pct == 0.0


def test_hypervisor_share_of_running_is_measured_from_vm_entries_and_exits() -> None:
    """A busy guest with 20k MSIs/s: every interrupt costs a VM exit, its handling, the
    tasklet on the VM-entry path and an EOI exit, all inside RUNNING."""
    m = host()
    v = m.add_vcpu(m.add_domain("d"), 0, "busy")
    m.add_device(v.domain, v, ts.Poisson(20_000))  # type: ignore[arg-type]
    t = times(m, 50 * MS)["dv0"]
    assert t.running_ns == 50 * MS and t.steal_pct == 0.0
    # per MSI: exit 500 + IRQ ~300 + softirqs/tasklet ~2 us + EOI exit ~1.6 us + entries
    assert 5.0 < t.hv_pct < 15.0
    assert t.guest_ns + t.hv_ns == t.running_ns


def test_small_2socket_reports_steal_per_domain_and_class() -> None:
    result = ts.run("small-2socket", seed=1, duration_ms=30, warmup_ms=5)
    doc = ts.run_json(result)
    assert doc["warmup_ns"] == 5 * MS
    assert set(doc["domains"]) == {"busy0", "busy1"} | {f"idle{c}" for c in range(2, 8)}
    for entry in doc["vcpus"].values():
        total = sum(entry[k] for k in ("running_ns", "runnable_ns", "blocked_ns", "offline_ns"))
        assert total == 25 * MS
        assert {"steal_pct", "hv_pct", "domain", "workload"} <= set(entry)
    classes = class_times(result.trace, 5 * MS)
    assert set(classes) == {"busy", "idle"}
    assert domain_times(result.trace, 5 * MS)["busy0"].steal_pct == 0.0


def test_overcommitted_idle_cpus() -> None:
    result = ts.run("small-2socket", seed=1, duration_ms=30, params={"vcpus_per_idle_cpu": 3})
    per_vcpu = vcpu_times(result.trace)
    assert len(per_vcpu) == 2 + 6 * 3
    assert class_times(result.trace)["idle"].steal_pct > 0


def test_warmup_must_be_shorter_than_the_run() -> None:
    with pytest.raises(ts.ConfigError, match="warmup_ms"):
        ts.run("small-2socket", duration_ms=5, warmup_ms=5)
    with pytest.raises(ts.ConfigError, match="warmup_ms"):
        ts.run("small-2socket", duration_ms=5, warmup_ms=-1)


def test_tickle_prefers_an_idle_pcpu_in_the_soft_affinity() -> None:
    """A waiting vCPU that cannot outrank its pCPU's current vCPU: credit1 tickles an
    idle pCPU of its affinity, and one of its soft affinity first."""
    sim = Simulation(0)
    sim.trace.meta.duration_ns = 10**9
    m = Machine(sim, ts.Topology(1, 4))
    m.add_vcpu(m.add_domain("a"), 0, "busy")
    c = m.add_vcpu(m.add_domain("c"), 0, "busy", affinity=(0, 1, 2, 3), soft_affinity=(2,))
    m.sim.call_later(
        1000, lambda _e: m.cpus[1].call_on_cpu(lambda cpu: m.sched.runq_tickle(cpu, c))
    )
    m.sim.run(10 * MS)
    raised = [e for e in events(m, (K.SOFTIRQ_RAISE,)) if e[3] == "SCHEDULE_SOFTIRQ"]
    assert raised[0][4] == 2
    assert c.processor == 2  # CPU 2 stole it


def test_json_has_xenalyze_style_intervals() -> None:
    doc = ts.run_json(ts.run("small-2socket", seed=1, duration_ms=20))
    idle = doc["vcpus"]["idle4v0"]["intervals"]
    assert set(idle) == {"running", "runnable", "blocked", "offline"}
    assert idle["running"]["count"] == pytest.approx(20, abs=1)
    assert idle["running"]["p5_ns"] <= idle["running"]["p50_ns"] <= idle["running"]["p95_ns"]
    assert idle["offline"] == {
        "count": 0,
        "total_ns": 0,
        "p5_ns": 0.0,
        "p50_ns": 0.0,
        "p95_ns": 0.0,
    }


def _hand_trace(rows: list[tuple[int, int, K, int, int]]) -> Trace:
    """A trace of ``rows`` over 1000 ns with one vCPU (``dv0``) and one lock (``l``)."""
    rec = TraceRecorder()
    rec.names.add("vcpu", "dv0")
    rec.names.add("lock", "l")
    rec.meta.duration_ns = 1000
    for t, cpu, kind, subject, arg in rows:
        rec.append((t, cpu, int(kind), subject, arg))
    return rec.finish()


def test_lock_wait_in_running_by_hand() -> None:
    """vCPU 0 runs on CPU 0 over [100, 500); CPU 0 spins over [50, 150), [300, 350) and,
    nested in it, [320, 340); CPU 1 spins over [200, 400). Lock wait in RUNNING:
    50 + 50 = 100 ns (the nested spin once, CPU 1's not at all)."""
    trace = _hand_trace(
        [
            (0, 0, K.RUNSTATE_CHANGE, 0, 2),
            (100, 0, K.RUNSTATE_CHANGE, 0, 0),
            (150, 0, K.LOCK_ACQUIRE, 0, 50),
            (340, 0, K.LOCK_ACQUIRE, 0, 320),
            (350, 0, K.LOCK_ACQUIRE, 0, 300),
            (400, 1, K.LOCK_ACQUIRE, 0, 200),
            (500, 0, K.RUNSTATE_CHANGE, 0, 2),
        ]
    )
    assert lock_wait_in_running(trace) == {"dv0": 100}


def test_lock_wait_in_running_with_only_zero_length_spins() -> None:
    """A CPU whose contended acquisitions all waited 0 ns spun for no time: RUNNING on it
    has no lock wait (and the CPU's empty set of spins is not an error)."""
    trace = _hand_trace(
        [
            (0, 0, K.RUNSTATE_CHANGE, 0, 0),
            (150, 0, K.LOCK_ACQUIRE, 0, 150),
            (500, 0, K.RUNSTATE_CHANGE, 0, 2),
        ]
    )
    assert lock_wait_in_running(trace) == {"dv0": 0}


def test_guest_time_of_a_vcpu_still_in_guest_mode_and_never_exited() -> None:
    """A vCPU entered at 300 ns and still in guest mode at the end (1000 ns): 700 ns of
    guest time, with no VM exit anywhere in the trace (no entry-exit pair to sum)."""
    trace = _hand_trace([(0, 0, K.RUNSTATE_CHANGE, 0, 0), (300, 0, K.VM_ENTRY, 0, 0)])
    assert vcpu_times(trace)["dv0"].guest_ns == 700


def _woken_on_a_pcpu_busy_in_xen(waiting_cpu_busy: bool) -> tuple[ts.hv.machine.VCpu, int]:
    """A floating vCPU ``w`` (soft affinity CPU 1) is woken at 2 us onto CPU 1, which is in
    the middle of 50 us of hypervisor work that started at 1 us (its idle vCPU current,
    unless ``waiting_cpu_busy``: then a pinned busy vCPU runs there); at 3 us CPU 0, idle,
    runs ``schedule()`` (woken by an IPI). Returns ``w`` (its ``processor``: where it
    ran) and when it first ran."""
    m = tiny()
    if waiting_cpu_busy:
        m.add_vcpu(m.add_domain("b"), 1, "busy")
    w = m.add_vcpu(m.add_domain("w"), 1, "idle", affinity=(0, 1, 2, 3), soft_affinity=(1,))
    m.sim.call_later(1000, lambda _e: m.cpus[1].call_on_cpu(lambda cpu: cpu.work(50_000)))
    m.sim.call_later(2000, lambda _e: m.cpus[3].call_on_cpu(lambda cpu: vcpu_kick(cpu, w)))
    schedule = m.softirq_nr["SCHEDULE_SOFTIRQ"]

    def reschedule(cpu: Cpu) -> Proc:  # an IPI wakes CPU 0, which raises SCHEDULE there
        cpu.raise_softirq(schedule)
        return
        yield

    m.sim.call_later(3000, lambda _e: m.cpus[0].call_on_cpu(reschedule))
    m.sim.run(200_000)
    running = [e for e in events(m, (K.RUNSTATE_CHANGE,)) if e[3] == "wv0" and e[4] == 0]
    return w, running[0][0]


def test_load_balance_steals_only_from_busy_peers() -> None:
    """Xen 4.4's ``csched_load_balance`` looks at ``online & ~idlers``: CPU 0 does not take
    the vCPU waiting on CPU 1 while CPU 1 runs its idle vCPU (busy in the hypervisor: it
    is about to pick up its own work, ``csched_runq_steal``), so the vCPU waits there
    until CPU 1's work ends, ~51 us (steal); with a guest running on CPU 1, CPU 0 takes
    it at once."""
    w, first_ran = _woken_on_a_pcpu_busy_in_xen(waiting_cpu_busy=False)
    assert w.processor == 1 and first_ran > 51_000
    w, first_ran = _woken_on_a_pcpu_busy_in_xen(waiting_cpu_busy=True)
    assert w.processor == 0 and first_ran < 10_000


def test_load_balance_looks_at_its_own_node_first() -> None:
    """``cycle_node`` from this CPU's node: CPU 3 (socket 1) takes the vCPU waiting on CPU 2
    (its socket), CPU 0 (socket 0) the one waiting on CPU 1, though CPU 1 < CPU 2."""
    m = tiny()
    for cpu in (1, 2):
        m.add_vcpu(m.add_domain(f"b{cpu}"), cpu, "busy")
    waiting = {
        cpu: m.add_vcpu(m.add_domain(f"w{cpu}"), cpu, "busy", affinity=(0, 1, 2, 3))
        for cpu in (1, 2)
    }
    assert m.sched.load_balance(3, None) is waiting[2]
    assert m.sched.load_balance(0, None) is waiting[1]
    assert waiting[2].processor == 3 and waiting[1].processor == 0


@pytest.mark.parametrize(("idle_tick_hz", "idle_ticks"), [(None, 50), (100.0, 5)])
def test_a_nohz_idle_guest_wakes_at_idle_tick_hz(
    idle_tick_hz: float | None, idle_ticks: int
) -> None:
    """``idle_tick_hz`` is how often a NO_HZ idle guest's timers wake it: its vCPUs'
    ticks come that often, the busy guests' at ``tick_hz`` (1 kHz) still; unset, the idle
    guests tick at 1 kHz too. Over 50 ms, per vCPU: 50 ticks, or 5."""
    small = {
        "sockets": 2,
        "cores_per_socket": 2,
        "busy_sockets": 1,
        "busy_guests": 1,
        "busy_vcpus": 2,
        "idle_guests": 1,
        "idle_vcpus": 2,
        "idle_tick_hz": idle_tick_hz,
    }
    result = ts.run("xen-8socket-passthrough", design="rfc-percpu", duration_ms=50, params=small)
    trace = result.trace
    injected = trace.rows(K.VIRQ_INJECT)
    for name in ("busy0v0", "busy0v1", "idle0v0", "idle0v1"):
        tick = trace.names.ident("irq", f"{name}:timer")
        count = int((trace.subject[injected] == tick).sum())
        expected = idle_ticks if name.startswith("idle") else 50
        assert abs(count - expected) <= 1, (name, count)
