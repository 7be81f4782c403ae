"""The per-CPU designs on the same tiny cases as the global one, and their common contract.

Hosts and costs are those of ``helpers.tiny()`` (see test_xen44_paths.py).
Bit operations on a tasklet's state word (``test_and_set_bit``...) cost one
line transfer from the CPU that touched the word last: 7 ns when it is the
same CPU, 102 ns within a socket.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import taskletsim as ts
from taskletsim.core.events import EventKind as K
from taskletsim.core.sim import Simulation
from taskletsim.hv.machine import Machine
from taskletsim.metrics import check_trace
from taskletsim.platform.arrivals import Replay

from .helpers import HAND_COSTS, XEN_DESIGNS, events, taskletsim_cli, tiny

DESIGNS = XEN_DESIGNS
PER_CPU = [d for d in DESIGNS if d != "xen-4.4-global"]
FLOW = (
    K.IRQ_ENTRY,
    K.IRQ_EXIT,
    K.LOCK_ACQUIRE,
    K.SOFTIRQ_RAISE,
    K.SOFTIRQ_ENTRY,
    K.TASKLET_SCHEDULE,
    K.TASKLET_ENTRY,
    K.TASKLET_EXIT,
    K.VIRQ_INJECT,
)


def simple_tasklet(m: Machine, name: str, ns: int = 100) -> ts.Tasklet:
    def func(cpu):  # type: ignore[no-untyped-def]
        yield from cpu.work(ns)

    return m.design.tasklet_init(name, func)


def one_msi(design: str) -> Machine:
    m = tiny(design)
    d = m.add_domain("dom1")
    v = m.add_vcpu(d, 0, "idle")
    m.add_device(d, v, Replay((1000,)))
    m.sim.run(20_000)
    return m


def test_rfc_one_passthrough_interrupt_on_an_idle_cpu() -> None:
    """The first global-design case under the RFC: no ``tasklet_lock`` at all.

    1100 ``tasklet_schedule``: ``test_and_set_bit(SCHED)`` (7): 1107;
    ``tasklet_enqueue`` with IRQs off: ``__get_cpu_var`` 10, list 20, raise 20:
    TASKLET_SOFTIRQ_PERCPU raised at 1157; IRQ exit 1207. The softirq (10),
    IRQs off for the pop (10 + 20), trylock (7): claimed at 1254, SCHED
    cleared (7), ``d->event_lock`` at 1268. The rest is the global design's
    path shifted by +47 ns: the injection comes at 2788 instead of 2768.
    """
    assert events(one_msi("rfc-percpu"), FLOW, until=2800) == [
        (1000, 0, "IRQ_ENTRY", "dom1:msi0", 0),
        (1107, 0, "TASKLET_SCHEDULE", "dom1:dirq_tasklet", "dom1:msi0"),
        (1157, 0, "SOFTIRQ_RAISE", "TASKLET_SOFTIRQ_PERCPU", 0),
        (1207, 0, "IRQ_EXIT", "dom1:msi0", 0),
        (1207, 0, "SOFTIRQ_ENTRY", "TASKLET_SOFTIRQ_PERCPU", 0),
        (1254, 0, "TASKLET_ENTRY", "dom1:dirq_tasklet", -1),
        (1268, 0, "LOCK_ACQUIRE", "dom1:event_lock", -1),
        (1668, 0, "SOFTIRQ_RAISE", "SCHEDULE_SOFTIRQ", 0),
        (1668, 0, "TASKLET_EXIT", "dom1:dirq_tasklet", -1),
        (1668, 0, "SOFTIRQ_ENTRY", "SCHEDULE_SOFTIRQ", 0),
        (2788, 0, "VIRQ_INJECT", "dom1:msi0", "dom1v0"),
    ]


@pytest.mark.parametrize(
    ("design", "unit", "softirq"),
    [
        ("xen-4.6-dpci", "dom1:msi0:pirq_dpci", "HVM_DPCI_SOFTIRQ"),
        ("linux", "dom1:dirq_tasklet", "TASKLET_SOFTIRQ"),
    ],
)
def test_dpci_and_linux_one_passthrough_interrupt_on_an_idle_cpu(
    design: str, unit: str, softirq: str
) -> None:
    """Xen 4.6 ``raise_softirq_for`` and Linux ``tasklet_schedule`` cost the same here.

    1100 ``test_and_set_bit(SCHED)`` (7), then the append with IRQs off (20):
    raise at 1127, IRQ exit 1177. The softirq (10) splices / detaches the
    whole list with IRQs off (20), ``test_and_set_bit(RUN)`` (7): claimed at
    1214, ``event_lock`` at 1221; the vCPU is injected at 2741. No
    ``tasklet_lock``: Xen 4.6's passthrough path does not use tasklets, and
    Linux tasklets are per-CPU.
    """
    assert events(one_msi(design), FLOW, until=2800) == [
        (1000, 0, "IRQ_ENTRY", "dom1:msi0", 0),
        (1107, 0, "TASKLET_SCHEDULE", unit, "dom1:msi0"),
        (1127, 0, "SOFTIRQ_RAISE", softirq, 0),
        (1177, 0, "IRQ_EXIT", "dom1:msi0", 0),
        (1177, 0, "SOFTIRQ_ENTRY", softirq, 0),
        (1214, 0, "TASKLET_ENTRY", unit, -1),
        (1221, 0, "LOCK_ACQUIRE", "dom1:event_lock", -1),
        (1621, 0, "SOFTIRQ_RAISE", "SCHEDULE_SOFTIRQ", 0),
        (1621, 0, "TASKLET_EXIT", unit, -1),
        (1621, 0, "SOFTIRQ_ENTRY", "SCHEDULE_SOFTIRQ", 0),
        (2741, 0, "VIRQ_INJECT", "dom1:msi0", "dom1v0"),
    ]


@pytest.mark.parametrize("design", PER_CPU)
def test_two_sockets_do_not_race_for_anything(design: str) -> None:
    """The race of the global design (MSIs at 1000 on CPUs 0 and 2) is gone.

    Each CPU runs its own domain's work exactly as if alone: both claim at
    the single-CPU time, and no lock is contended or bounced.
    """
    m = tiny(design)
    for cpu in (0, 2):
        d = m.add_domain(f"dom{cpu}")
        v = m.add_vcpu(d, cpu, "idle")
        m.add_device(d, v, Replay((1000,)))
    m.sim.run(20_000)
    trace = m.sim.trace.finish()
    check_trace(trace, drained=True)
    alone = one_msi(design).sim.trace.finish()
    claim_alone = int(alone.time_ns[alone.kind == K.TASKLET_ENTRY][0])
    claims = trace.time_ns[trace.kind == K.TASKLET_ENTRY]
    assert claims.tolist() == [claim_alone, claim_alone]
    for stats in ts.lock_stats(trace).values():
        assert stats.contentions == 0 and stats.bounces == 0
    assert "tasklet_lock" not in {e[3] for e in events(m, (K.LOCK_ACQUIRE,))}


@pytest.mark.parametrize(
    ("design", "second_claim", "passes_on_cpu1"),
    [("rfc-percpu", 1843, 3), ("linux", 1780, 4), ("xen-4.6-dpci", 1514, 1)],
)
def test_scheduled_while_it_runs_elsewhere(
    design: str, second_claim: int, passes_on_cpu1: int
) -> None:
    """One domain, MSIs on CPU 0 at 1000 and CPU 1 at 1300 (the global design's case).

    RFC and Linux: CPU 0 cleared SCHED when it claimed the domain's tasklet,
    so CPU 1's schedule (1502: the state line comes from CPU 0, 102 ns)
    queues it on CPU 1, whose trylock fails while CPU 0 runs it: it is put
    back and the softirq re-raised, pass after pass, until CPU 0 clears RUN
    (RFC at 1818; Linux at 1771); then CPU 1 runs it. Never concurrently.
    Xen 4.6: each pirq is its own unit, so the second runs at once on CPU 1
    (1514), concurrently with the first, and the two meet on
    ``d->event_lock`` instead.
    """
    m = tiny(design)
    d = m.add_domain("dom")
    v = m.add_vcpu(d, 3, "idle")
    m.add_device(d, v, Replay((1000,)), cpu=0)
    m.add_device(d, v, Replay((1300,)), cpu=1)
    m.sim.run(20_000)
    trace = m.sim.trace.finish()
    check_trace(trace, drained=True)
    claims = trace.time_ns[trace.kind == K.TASKLET_ENTRY].tolist()
    assert claims[1] == second_claim
    on_cpu1 = (trace.kind == K.SOFTIRQ_ENTRY) & (trace.cpu == 1)
    assert int(on_cpu1.sum()) == passes_on_cpu1
    injected = events(m, (K.VIRQ_INJECT,))
    assert [e[3] for e in injected] == ["dom:msi0", "dom:msi1"]
    if design == "xen-4.6-dpci":
        assert ts.lock_stats(trace)["dom:event_lock"].contentions == 1


@pytest.mark.parametrize(
    ("design", "claim_on_2"),
    [
        ("xen-4.4-global", 2330),
        ("xen-4.6-dpci", 2330),
        ("rfc-percpu", 2837),
        ("linux", 1864),
    ],
)
def test_scheduled_on_another_cpu(design: str, claim_on_2: int) -> None:
    """CPU 0 schedules a tasklet on CPU 2 at 1000 (from its idle loop, after an IPI).

    Xen 4.6 schedules generic tasklets as Xen 4.4 does (2330, see the global
    test). RFC (cross-CPU feeding of the series' patch 2/5): CPU 0 sets SCHED
    (1157), appends it to CPU 2's feeder list under the global
    ``feeder_lock`` (1164-1184), then ``on_selected_cpus``: ``call_lock``
    (1191), the IPI (send 50, flight 500: 1741). CPU 2's handler (entry 100)
    runs ``percpu_tasklet_feed``: ``feeder_lock``, whose line comes from CPU 0
    (443: 2284), moves the list (20: 2304), raises the softirq; CPU 0 stops
    spinning. After the IRQ exit (50) CPU 2's softirq (10) pops it with IRQs
    off (30) and its trylock pulls the state line from CPU 0 (443): claimed
    at 2837. Linux: an IPI asks CPU 2 to run ``tasklet_schedule`` itself
    (1650), which then runs it locally (1864).
    """
    m = tiny(design)
    t = simple_tasklet(m, "t")
    m.sim.call_later(
        1000,
        lambda _e: m.cpus[0].call_on_cpu(lambda cpu: m.design.tasklet_schedule_on_cpu(cpu, t, 2)),
    )
    m.sim.run(10_000)
    trace = m.sim.trace.finish()
    check_trace(trace, drained=True)
    entries = [e for e in events(m, (K.TASKLET_ENTRY,))]
    assert entries == [(claim_on_2, 2, "TASKLET_ENTRY", "t", -1)]


@pytest.mark.parametrize(
    ("design", "down_at", "claim_on_0"),
    [
        ("xen-4.4-global", 1400, 1594),
        ("xen-4.6-dpci", 1400, 1594),
        ("rfc-percpu", 1400, 1654),
        ("linux", 1760, 2403),
    ],
)
def test_cpu_offline_with_a_tasklet_queued(design: str, down_at: int, claim_on_0: int) -> None:
    """CPU 2 goes offline with the tasklet queued on it; CPU 0's notifier moves it.

    Global and Xen 4.6: as in the global test. RFC, with the per-target
    feeding (with the patch's synchronous feeding the tasklet reaches CPU 2's
    list before CPU 2 can go down): the patch's ``migrate_tasklets_from_cpu``
    of ``softirq_list`` and the feeder list under ``tasklet_lock`` at 1557,
    re-enqueued locally; it runs at 1654. Linux: the tasklet reaches CPU 2's
    list at 1757 (by IPI), CPU 2 dies at 1760 before its softirq runs;
    ``takeover_tasklets`` on CPU 0 (woken by an IPI at 1760, handler to 1910)
    moves it with IRQs off (20); the softirq (10) detaches the list (20) and
    the trylock pulls the state line from the dead CPU's socket (443):
    claimed at 2403.
    """
    options = {"feeding": "per-target"} if design == "rfc-percpu" else None
    m = tiny(design, options=options)
    t = simple_tasklet(m, "t")
    m.sim.call_later(
        1000,
        lambda _e: m.cpus[0].call_on_cpu(lambda cpu: m.design.tasklet_schedule_on_cpu(cpu, t, 2)),
    )
    m.sim.call_later(down_at, lambda _e: m.cpu_down(2, on=0))
    m.sim.run(10_000)
    check_trace(m.sim.trace.finish(), drained=True)
    assert events(m, (K.TASKLET_ENTRY,)) == [(claim_on_0, 0, "TASKLET_ENTRY", "t", -1)]


@pytest.mark.parametrize("design", DESIGNS)
def test_scheduling_an_already_scheduled_tasklet_is_a_no_op(design: str) -> None:
    """Three schedules before it can run: one run."""
    m = tiny(design)
    t = simple_tasklet(m, "t")

    def thrice(cpu):  # type: ignore[no-untyped-def]
        for _ in range(3):
            yield from m.design.tasklet_schedule(cpu, t)

    m.sim.call_later(1000, lambda _e: m.cpus[0].call_on_cpu(thrice))
    m.sim.run(10_000)
    trace = m.sim.trace.finish()
    check_trace(trace, drained=True)
    assert int((trace.kind == K.TASKLET_SCHEDULE).sum()) == 3
    assert int((trace.kind == K.TASKLET_ENTRY).sum()) == 1


@pytest.mark.parametrize("design", DESIGNS)
def test_tasklet_kill_waits_for_the_run_and_then_ignores_schedules(design: str) -> None:
    """A 2 us tasklet runs on CPU 0 from about 1.2 us; CPU 1 kills it at 1.5 us."""
    m = tiny(design)
    t = simple_tasklet(m, "t", ns=2000)
    m.sim.call_later(
        1000, lambda _e: m.cpus[0].call_on_cpu(lambda cpu: m.design.tasklet_schedule(cpu, t))
    )
    killed: list[int] = []

    def kill(cpu):  # type: ignore[no-untyped-def]
        yield from m.design.tasklet_kill(cpu, t)
        killed.append(m.sim.now)
        yield from m.design.tasklet_schedule(cpu, t)

    m.sim.call_later(1500, lambda _e: m.cpus[1].call_on_cpu(kill))
    m.sim.run(20_000)
    trace = m.sim.trace.finish()
    check_trace(trace)
    exits = trace.time_ns[trace.kind == K.TASKLET_EXIT]
    assert len(exits) == 1 and t.is_dead
    assert killed and killed[0] >= exits[0]
    assert int((trace.kind == K.TASKLET_ENTRY).sum()) == 1
    assert int((trace.kind == K.TASKLET_SCHEDULE).sum()) == 1  # the one after the kill is ignored


@pytest.mark.parametrize("design", DESIGNS)
def test_nothing_is_lost_under_load(design: str) -> None:
    """One domain, devices on three CPUs at 100k MSIs/s each for 2 ms, then quiet.

    Every design passes the invariants with ``drained``: every schedule was
    followed by a run, no tasklet ran on two CPUs at once, no lock had two
    holders; every marked pirq reached the guest.
    """
    sim = Simulation(3)
    m = Machine(sim, ts.Topology(2, 2), design=design)
    d = m.add_domain("dom")
    v = m.add_vcpu(d, 3, "busy")
    rng = np.random.default_rng(5)
    for cpu in (0, 1, 2):
        times = np.sort(rng.integers(0, 2_000_000, 200)).tolist()
        m.add_device(d, v, Replay(tuple(times)), cpu=cpu)
    sim.run(4_000_000)
    trace = sim.trace.finish()
    check_trace(trace, drained=True)
    injected = {s.name: 0 for s in trace.meta.irq if s.kind == "device"}
    for name in injected:
        sid = trace.names.ident("irq", name)
        injected[name] = int(((trace.kind == K.VIRQ_INJECT) & (trace.subject == sid)).sum())
        assert injected[name] > 0
    assert not any(p.masked for p in d.pirqs)


def run_conflict_passes(design: str) -> tuple[int, int]:
    """A 20 us ``hvm_dirq_assist`` on CPU 0 while the same work is queued on CPU 1.

    RFC and Linux: one domain, MSIs at 1000 on CPU 0 and 1300 on CPU 1 (one
    tasklet). Xen 4.6: one pirq whose affinity moves from CPU 0 to CPU 1
    between its two MSIs (the case fix a2a935bc5ef6 requeues for).
    Returns (softirq passes on CPU 1, useful runs on CPU 1).
    """
    costs = replace(HAND_COSTS, hvm_dirq_assist_ns=20_000)
    m = Machine(Simulation(0), ts.Topology(2, 2), design=design, costs=costs)
    d = m.add_domain("dom")
    v = m.add_vcpu(d, 3, "idle")
    if design == "xen-4.6-dpci":
        source = m.add_device(d, v, Replay((1000, 1300)), cpu=0)
        m.sim.call_later(1100, lambda _e: setattr(source, "cpu", 1))
    else:
        m.add_device(d, v, Replay((1000,)), cpu=0)
        m.add_device(d, v, Replay((1300,)), cpu=1)
    m.sim.run(100_000)
    trace = m.sim.trace.finish()
    check_trace(trace, drained=True)
    on_cpu1 = trace.cpu == 1
    passes = int((on_cpu1 & (trace.kind == K.SOFTIRQ_ENTRY)).sum())
    runs = int((on_cpu1 & (trace.kind == K.TASKLET_ENTRY)).sum())
    return passes, runs


@pytest.mark.parametrize(
    ("design", "pass_ns"), [("rfc-percpu", 97), ("xen-4.6-dpci", 57), ("linux", 57)]
)
def test_run_conflict_requeue_spins(design: str, pass_ns: int) -> None:
    """While CPU 0 runs the work for 20 us, CPU 1 re-raises its softirq pass after pass.

    One failed pass costs: RFC, dispatch 10 + pop with IRQs off 30 + trylock
    7 + put back 30 + raise 20 = 97 ns; Xen 4.6 and Linux, dispatch 10 +
    splice 20 + ``test_and_set_bit(RUN)`` 7 + put back 20 = 57 ns. So CPU 1
    makes about 20 us / 97 ns = 206 (RFC) and 20 us / 57 ns = 351 passes
    (measured: 207, 350, 352) for one useful run. Linux's restart limit
    only hands the spin to ksoftirqd, which on an idle CPU runs at once.
    """
    passes, runs = run_conflict_passes(design)
    assert runs == 1
    assert passes == pytest.approx(20_000 / pass_ns, rel=0.05)


def test_example_design_registers_and_runs_by_name() -> None:
    path = Path(__file__).parent.parent / "examples" / "per_socket_design.py"
    if "per_socket_design" not in sys.modules:  # the docs' tests may have loaded it
        spec = importlib.util.spec_from_file_location("per_socket_design", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["per_socket_design"] = module
        spec.loader.exec_module(module)
    assert "per-socket" in ts.design_names()
    result = ts.run("small-2socket", design="per-socket", seed=1, duration_ms=10)
    check_trace(result.trace)
    stats = ts.lock_stats(result.trace)
    assert stats["socket0_tasklet_lock"].acquisitions > 0
    assert stats["socket0_tasklet_lock"].bounces == 0  # a socket's lock never leaves it
    assert len(path.read_text().splitlines()) < 100


def test_cli_compares_the_four_designs() -> None:

    out = taskletsim_cli(
        "run",
        "small-2socket",
        "--duration-ms",
        "10",
        *[arg for d in DESIGNS for arg in ("--design", d)],
    )
    assert out.returncode == 0, out.stderr
    table = out.stdout.split("comparison (same scenario and seed):")[1]
    for design in DESIGNS:
        assert design in table
    rows = [line.split() for line in table.splitlines() if "tasklet_lock" in line]
    by_design = {row[0]: row[2] for row in rows}
    assert by_design["rfc-percpu"] == "0" and by_design["linux"] == "0"
    assert by_design["xen-4.4-global"] != "0"


@pytest.mark.parametrize("scenario", ["small-2socket", "xen-8socket-passthrough"])
def test_each_design_runs_on_the_lock_of_its_code_base(scenario: str) -> None:
    """Xen 4.4 and the RFC: TTAS; Xen 4.6: ticket; Linux: queued (MCS); unless ``lock`` is set."""
    expected = {"xen-4.4-global": "ttas", "rfc-percpu": "ttas", "xen-4.6-dpci": "ticket"}
    expected["linux"] = "mcs"
    for design in DESIGNS:
        result = ts.run(scenario, design=design, seed=1, duration_ms=1)
        assert result.trace.meta.lock_kind == expected[design]
        assert result.params["lock"] is None
        forced = ts.run(scenario, design=design, seed=1, duration_ms=1, params={"lock": "ticket"})
        assert forced.trace.meta.lock_kind == "ticket"


@pytest.mark.parametrize(
    ("feeding", "locks"),
    [("patch", {"feeder_lock", "call_lock"}), ("per-target", {"tasklet_feeder_lock2"})],
)
def test_rfc_cross_cpu_feeding(feeding: str, locks: set[str]) -> None:
    """Patch 2/5 feeds another CPU under the global ``feeder_lock`` and waits for it in
    ``on_selected_cpus`` (``call_lock``); the per-target variant uses CPU 2's own lock.
    A CPU going down while a cross-call to it is in flight takes the call first."""
    m = tiny("rfc-percpu", options={"feeding": feeding})
    t = simple_tasklet(m, "t")
    m.sim.call_later(
        1000,
        lambda _e: m.cpus[0].call_on_cpu(lambda cpu: m.design.tasklet_schedule_on_cpu(cpu, t, 2)),
    )
    m.sim.call_later(1400, lambda _e: m.cpu_down(2, on=0))
    m.sim.run(10_000)
    trace = m.sim.trace.finish()
    check_trace(trace, drained=True)
    taken = {name for name, s in ts.lock_stats(trace).items() if s.acquisitions}
    assert locks <= taken
    entries = [e for e in events(m, (K.TASKLET_ENTRY,))]
    assert len(entries) == 1
    assert entries[0][1] == (2 if feeding == "patch" else 0)
