"""The interrupt paths and Xen 4.4's global tasklets, on hand-worked event sequences.

Every host here is ``helpers.tiny()``: 2 sockets x 2 cores (CPUs 0, 1 on
socket 0; 2, 3 on socket 1), a TTAS ``tasklet_lock``, line transfers of 7 ns
(same CPU), 102 ns (same socket), 443 ns (other socket), and the round
costs of ``HAND_COSTS`` (IRQ entry 100, exit 50, softirq dispatch 10, list
work under the lock 20, ``hvm_dirq_assist`` 200, ``vmsi_deliver`` 100,
``vcpu_wake`` 100, ``schedule`` 100, context switch 1000, ``vmx_intr_assist``
10, injection 20, VM entry and exit 300 each, guest ISR 1000, EOI exit 100,
IPI send 50 and flight 500, timer function 60, event channel 40).

The times in each docstring are worked out from those costs, step by step,
following xen/common/tasklet.c and the paths of docs/model.md.
"""

from __future__ import annotations

import numpy as np
import pytest

import taskletsim as ts
from taskletsim.core.events import EventKind as K
from taskletsim.metrics import InvariantError, check_trace, irq_latency
from taskletsim.platform.arrivals import Periodic, Replay

from .helpers import events, tiny

LOCKS = (K.LOCK_CONTEND, K.LOCK_ACQUIRE, K.LOCK_RELEASE)
TASKLETS = (K.TASKLET_SCHEDULE, K.TASKLET_ENTRY, K.TASKLET_EXIT)


def simple_tasklet(m: ts.Machine, name: str, ns: int = 100) -> ts.Tasklet:
    def func(cpu):  # type: ignore[no-untyped-def]
        yield from cpu.work(ns)

    return m.design.tasklet_init(name, func)


def test_one_passthrough_interrupt_on_an_idle_cpu() -> None:
    """Path B on an idle CPU whose blocked vCPU owns the device; MSI at t=1000.

    1000 the MSI wakes the halted CPU: ``do_IRQ`` entry. 1100
    ``hvm_do_IRQ_dpci`` -> ``tasklet_schedule``: lock 1 (irqsave, IRQs off),
    the line comes from CPU 0 itself, 7 ns: 1107; list work 20: 1127, the
    list was empty so TASKLET_SOFTIRQ is raised; unlock. IRQ exit 1177.
    Idle loop: ``do_softirq`` runs TASKLET at 1177, dispatch 10; lock 2 at
    1194, the tasklet is claimed; list work to 1214, unlock; its function
    ``hvm_dirq_assist`` takes ``d->event_lock`` (1221), works 200 (1421),
    delivers the pirq (100: 1521) and kicks the vCPU: ``vcpu_wake`` (100)
    makes it runnable at 1621 and raises SCHEDULE. Lock 3 at 1628, list
    work to 1648, unlock. SCHEDULE: dispatch 10; ``schedule`` makes the vCPU
    running at 1658 (Xen stamps runstates with the time ``schedule`` began),
    picks it (100) and switches context (1000) to 2758. VM-entry path:
    ``vmx_intr_assist`` (10) injects the vector at 2768 (20), VM entry (300):
    the guest runs from 3088. Its ISR (1000) ends in an EOI write: exit at
    4088 (300), ``hvm_dpci_msi_eoi`` under ``d->event_lock`` 4395-4495,
    ``vmx_intr_assist`` (10), entry (300) at 4805; nothing left to do, so
    the guest halts at once: HLT exit at 4805, ``vcpu_block`` raises
    SCHEDULE at 5105; on the VM-entry path ``schedule`` blocks the vCPU at
    5125 and switches to idle (6225).
    Three ``tasklet_lock`` acquisitions.
    """
    m = tiny()
    d = m.add_domain("dom1")
    v = m.add_vcpu(d, 0, "idle")
    m.add_device(d, v, Replay((1000,)))
    m.sim.run(20_000)
    assert events(m) == [
        (0, 0, "RUNSTATE_CHANGE", "dom1v0", 2),
        (1000, 0, "IRQ_RAISE", "dom1:msi0", 0),
        (1000, 0, "IRQ_ENTRY", "dom1:msi0", 0),
        (1107, 0, "LOCK_ACQUIRE", "tasklet_lock", -1),
        (1127, 0, "SOFTIRQ_RAISE", "TASKLET_SOFTIRQ", 0),
        (1127, 0, "TASKLET_SCHEDULE", "dom1:dirq_tasklet", "dom1:msi0"),
        (1127, 0, "LOCK_RELEASE", "tasklet_lock", 0),
        (1177, 0, "IRQ_EXIT", "dom1:msi0", 0),
        (1177, 0, "SOFTIRQ_ENTRY", "TASKLET_SOFTIRQ", 0),
        (1194, 0, "LOCK_ACQUIRE", "tasklet_lock", -1),
        (1194, 0, "TASKLET_ENTRY", "dom1:dirq_tasklet", -1),
        (1214, 0, "LOCK_RELEASE", "tasklet_lock", 0),
        (1221, 0, "LOCK_ACQUIRE", "dom1:event_lock", -1),
        (1621, 0, "RUNSTATE_CHANGE", "dom1v0", 1),
        (1621, 0, "SOFTIRQ_RAISE", "SCHEDULE_SOFTIRQ", 0),
        (1621, 0, "LOCK_RELEASE", "dom1:event_lock", 0),
        (1621, 0, "TASKLET_EXIT", "dom1:dirq_tasklet", -1),
        (1628, 0, "LOCK_ACQUIRE", "tasklet_lock", -1),
        (1648, 0, "LOCK_RELEASE", "tasklet_lock", 0),
        (1648, 0, "SOFTIRQ_EXIT", "TASKLET_SOFTIRQ", 0),
        (1648, 0, "SOFTIRQ_ENTRY", "SCHEDULE_SOFTIRQ", 0),
        (1658, 0, "RUNSTATE_CHANGE", "dom1v0", 0),
        (2758, 0, "SOFTIRQ_EXIT", "SCHEDULE_SOFTIRQ", 0),
        (2768, 0, "VIRQ_INJECT", "dom1:msi0", "dom1v0"),
        (3088, 0, "VM_ENTRY", "dom1v0", 0),
        (4088, 0, "VM_EXIT", "dom1v0", 56),
        (4395, 0, "LOCK_ACQUIRE", "dom1:event_lock", -1),
        (4495, 0, "LOCK_RELEASE", "dom1:event_lock", 0),
        (4805, 0, "VM_ENTRY", "dom1v0", 0),
        (4805, 0, "VM_EXIT", "dom1v0", 12),
        (5105, 0, "SOFTIRQ_RAISE", "SCHEDULE_SOFTIRQ", 0),
        (5115, 0, "SOFTIRQ_ENTRY", "SCHEDULE_SOFTIRQ", 0),
        (5125, 0, "RUNSTATE_CHANGE", "dom1v0", 2),
        (6225, 0, "SOFTIRQ_EXIT", "SCHEDULE_SOFTIRQ", 0),
    ]
    trace = m.sim.trace.finish()
    check_trace(trace, drained=True)
    latency = irq_latency(trace)["dom1:msi0"]
    assert (latency["handler"].max_ns, latency["tasklet"].max_ns, latency["virq"].max_ns) == (
        0,
        194,
        1768,
    )


def test_two_interrupts_race_for_the_lock_from_two_sockets() -> None:
    """MSIs at t=1000 on CPU 0 (socket 0) and CPU 2 (socket 1), idle CPUs, two domains.

    Both handlers reach lock 1 at 1100. CPU 0 is first and takes the free
    lock (7 ns); CPU 2 spins with IRQs off (in IRQ context). CPU 0 releases
    at 1127 and the line crosses sockets: CPU 2 holds it at 1570, having
    waited 470. CPU 0, back from its IRQ at 1177 and through softirq
    dispatch, wants lock 2 at 1187: it spins with IRQs on (``spin_lock_irq``
    on Xen 2014's TTAS lock). CPU 2 releases at 1590: 443 more, CPU 0 has it
    at 2033 and claims its tasklet; CPU 2 meanwhile wants lock 2 at 1650 and
    gets it at 2053 + 443 = 2496. CPU 0's lock 3 (at 2460, after its 400 ns
    of ``hvm_dirq_assist``) finds the lock mid-handoff to CPU 2: every
    handoff here costs a socket crossing, 443 ns.
    """
    m = tiny()
    for cpu in (0, 2):
        d = m.add_domain(f"dom{cpu}")
        v = m.add_vcpu(d, cpu, "idle")
        m.add_device(d, v, Replay((1000,)))
    m.sim.run(20_000)
    wanted = (K.IRQ_ENTRY, *LOCKS, K.TASKLET_SCHEDULE, K.TASKLET_ENTRY)
    assert [e for e in events(m, wanted, until=2496) if "event_lock" not in e[3]] == [
        (1000, 0, "IRQ_ENTRY", "dom0:msi0", 0),
        (1000, 2, "IRQ_ENTRY", "dom2:msi0", 0),
        (1100, 2, "LOCK_CONTEND", "tasklet_lock", 1),
        (1107, 0, "LOCK_ACQUIRE", "tasklet_lock", -1),
        (1127, 0, "TASKLET_SCHEDULE", "dom0:dirq_tasklet", "dom0:msi0"),
        (1127, 0, "LOCK_RELEASE", "tasklet_lock", 0),
        (1187, 0, "LOCK_CONTEND", "tasklet_lock", 0),
        (1570, 2, "LOCK_ACQUIRE", "tasklet_lock", 1100),
        (1590, 2, "TASKLET_SCHEDULE", "dom2:dirq_tasklet", "dom2:msi0"),
        (1590, 2, "LOCK_RELEASE", "tasklet_lock", 0),
        (1650, 2, "LOCK_CONTEND", "tasklet_lock", 0),
        (2033, 0, "LOCK_ACQUIRE", "tasklet_lock", 1187),
        (2033, 0, "TASKLET_ENTRY", "dom0:dirq_tasklet", -1),
        (2053, 0, "LOCK_RELEASE", "tasklet_lock", 0),
        (2460, 0, "LOCK_CONTEND", "tasklet_lock", 0),
        (2496, 2, "LOCK_ACQUIRE", "tasklet_lock", 1650),
        (2496, 2, "TASKLET_ENTRY", "dom2:dirq_tasklet", -1),
    ]
    trace = m.sim.trace.finish()
    check_trace(trace, drained=True)
    stats = ts.lock_stats(trace)["tasklet_lock"]
    assert stats.acquisitions == 6
    assert stats.bounces == 5  # every handoff after the first crosses sockets


def test_tasklet_scheduled_while_it_runs() -> None:
    """One domain, one ``dirq_tasklet``, two MSIs: CPU 0 at 1000, CPU 1 at 1300.

    CPU 0 claims the tasklet at 1194 (as in the first test). CPU 1's handler
    takes lock 1 at 1400 + 102 (line from CPU 0, same socket) = 1502: the
    tasklet is running, so only ``scheduled_on = 1`` is set (1522). CPU 0's
    run delivers both marked pirqs (the second was marked at 1400, before
    the walk), kicking the vCPU on CPU 3 (SCHEDULE raised there at 1621, an
    IPI). At lock 3 (1873) CPU 0 sees ``scheduled_on >= 0`` and enqueues it on
    CPU 1's empty list: TASKLET_SOFTIRQ raised on CPU 1 at 1893 with an IPI
    sent under the lock, arriving at 2443. CPU 1 runs it again at 2705
    (IPI handler 150, dispatch 10, line from CPU 0: 102) and finds nothing
    left to deliver. It never ran on two CPUs at once.
    """
    m = tiny()
    d = m.add_domain("dom")
    v = m.add_vcpu(d, 3, "idle")
    m.add_device(d, v, Replay((1000,)), cpu=0)
    m.add_device(d, v, Replay((1300,)), cpu=1)
    m.sim.run(20_000)
    wanted = (*TASKLETS, K.SOFTIRQ_RAISE, K.IRQ_RAISE, K.VIRQ_INJECT)
    assert events(m, wanted, until=3500) == [
        (1000, 0, "IRQ_RAISE", "dom:msi0", 0),
        (1127, 0, "SOFTIRQ_RAISE", "TASKLET_SOFTIRQ", 0),
        (1127, 0, "TASKLET_SCHEDULE", "dom:dirq_tasklet", "dom:msi0"),
        (1194, 0, "TASKLET_ENTRY", "dom:dirq_tasklet", -1),
        (1300, 1, "IRQ_RAISE", "dom:msi1", 0),
        (1522, 1, "TASKLET_SCHEDULE", "dom:dirq_tasklet", "dom:msi1"),
        (1621, 0, "SOFTIRQ_RAISE", "SCHEDULE_SOFTIRQ", 3),
        (1771, 0, "TASKLET_EXIT", "dom:dirq_tasklet", -1),
        (1893, 0, "SOFTIRQ_RAISE", "TASKLET_SOFTIRQ", 1),
        (2171, 3, "IRQ_RAISE", "ipi:cpu3", 0),
        (2443, 1, "IRQ_RAISE", "ipi:cpu1", 0),
        (2705, 1, "TASKLET_ENTRY", "dom:dirq_tasklet", -1),
        (3027, 1, "TASKLET_EXIT", "dom:dirq_tasklet", -1),
        (3441, 3, "VIRQ_INJECT", "dom:msi0", "domv0"),
        (3461, 3, "VIRQ_INJECT", "dom:msi1", "domv0"),
    ]
    check_trace(m.sim.trace.finish(), drained=True)


def test_tasklet_scheduled_on_another_cpu() -> None:
    """CPU 0 runs ``tasklet_schedule_on_cpu(t, 2)`` from its idle loop at t=1000.

    The call is queued with an event-check IPI (handler 150): lock 1 at
    1150 + 7; list work to 1177; CPU 2's list was empty, so TASKLET_SOFTIRQ
    is raised there and an IPI sent (50, under the lock): unlock at 1227.
    The IPI lands at 1727; CPU 2 takes it (150), dispatches TASKLET (10) and
    gets the lock from CPU 0 across sockets (443): 2330. The tasklet runs
    100 ns; lock 3 comes from CPU 2 itself (7).
    """
    m = tiny()
    t = simple_tasklet(m, "t")
    m.sim.call_later(
        1000,
        lambda _e: m.cpus[0].call_on_cpu(lambda cpu: m.design.tasklet_schedule_on_cpu(cpu, t, 2)),
    )
    m.sim.run(10_000)
    assert events(m, (*LOCKS, *TASKLETS, K.SOFTIRQ_RAISE, K.IRQ_RAISE)) == [
        (1000, 0, "IRQ_RAISE", "ipi:cpu0", 0),
        (1157, 0, "LOCK_ACQUIRE", "tasklet_lock", -1),
        (1177, 0, "SOFTIRQ_RAISE", "TASKLET_SOFTIRQ", 2),
        (1227, 0, "TASKLET_SCHEDULE", "t", "-"),
        (1227, 0, "LOCK_RELEASE", "tasklet_lock", 0),
        (1727, 2, "IRQ_RAISE", "ipi:cpu2", 0),
        (2330, 2, "LOCK_ACQUIRE", "tasklet_lock", -1),
        (2330, 2, "TASKLET_ENTRY", "t", -1),
        (2350, 2, "LOCK_RELEASE", "tasklet_lock", 0),
        (2450, 2, "TASKLET_EXIT", "t", -1),
        (2457, 2, "LOCK_ACQUIRE", "tasklet_lock", -1),
        (2477, 2, "LOCK_RELEASE", "tasklet_lock", 0),
    ]
    check_trace(m.sim.trace.finish(), drained=True)


def test_cpu_going_offline_with_a_tasklet_queued() -> None:
    """As above, but CPU 2 goes offline at 1400, before the IPI lands (1727).

    CPU 0 runs the CPU_DEAD notifier from its idle loop (woken by an IPI at
    1400, handler to 1550): ``migrate_tasklets_from_cpu`` takes the lock
    (1557), moves the tasklet to its own list (20: 1577) and raises
    TASKLET_SOFTIRQ locally; it runs there at 1594. The dead CPU never runs
    it, though its IPI still arrives.
    """
    m = tiny()
    t = simple_tasklet(m, "t")
    m.sim.call_later(
        1000,
        lambda _e: m.cpus[0].call_on_cpu(lambda cpu: m.design.tasklet_schedule_on_cpu(cpu, t, 2)),
    )
    m.sim.call_later(1400, lambda _e: m.cpu_down(2, on=0))
    m.sim.run(10_000)
    assert events(m, (*LOCKS, *TASKLETS, K.SOFTIRQ_RAISE, K.IRQ_RAISE, K.IRQ_ENTRY)) == [
        (1000, 0, "IRQ_RAISE", "ipi:cpu0", 0),
        (1000, 0, "IRQ_ENTRY", "ipi:cpu0", 0),
        (1157, 0, "LOCK_ACQUIRE", "tasklet_lock", -1),
        (1177, 0, "SOFTIRQ_RAISE", "TASKLET_SOFTIRQ", 2),
        (1227, 0, "TASKLET_SCHEDULE", "t", "-"),
        (1227, 0, "LOCK_RELEASE", "tasklet_lock", 0),
        (1400, 0, "IRQ_RAISE", "ipi:cpu0", 1),
        (1400, 0, "IRQ_ENTRY", "ipi:cpu0", 1),
        (1557, 0, "LOCK_ACQUIRE", "tasklet_lock", -1),
        (1577, 0, "SOFTIRQ_RAISE", "TASKLET_SOFTIRQ", 0),
        (1577, 0, "LOCK_RELEASE", "tasklet_lock", 0),
        (1594, 0, "LOCK_ACQUIRE", "tasklet_lock", -1),
        (1594, 0, "TASKLET_ENTRY", "t", -1),
        (1614, 0, "LOCK_RELEASE", "tasklet_lock", 0),
        (1714, 0, "TASKLET_EXIT", "t", -1),
        (1721, 0, "LOCK_ACQUIRE", "tasklet_lock", -1),
        (1727, 2, "IRQ_RAISE", "ipi:cpu2", 0),
        (1741, 0, "LOCK_RELEASE", "tasklet_lock", 0),
    ]
    check_trace(m.sim.trace.finish(), drained=True)


def test_timer_tick_wakes_an_idle_vcpu_through_the_tasklet() -> None:
    """Path A: an idle guest's tick at t=1000 on its halted CPU; 2 us of guest work.

    The LAPIC interrupt (1000-1150) only raises TIMER_SOFTIRQ. TIMER
    (dispatch 10, ``execute_timer`` 60, ``evtchn_set_pending`` 40 under
    ``v->virq_lock`` with IRQs off) reaches ``hvm_assert_evtchn_irq`` with
    IRQs off: ``tasklet_schedule``, lock 1 at 1267. The vCPU is still
    blocked. TASKLET: lock 2 at 1304; the tasklet runs
    ``hvm_assert_evtchn_irq`` with IRQs on: ``vcpu_kick`` -> ``vcpu_wake``:
    runnable at 1424; lock 3 at 1431 (time the vCPU spends runnable: its
    steal). SCHEDULE (dispatch 10) makes it running at 1461; the pick and
    the context switch end at 2561 and the event-channel upcall is injected
    at 2571. From 2891 the guest runs its tick handler (1 us; a free-running
    tick needs no re-arming) and its 2 us of work, halts at 5891 and is
    blocked again at 6211.
    """
    m = tiny()
    d = m.add_domain("dom")
    v = m.add_vcpu(d, 0, "idle", burst_ns=2000)
    m.add_tick(v, Replay((1000,)))
    m.sim.run(20_000)
    assert events(m, (*LOCKS, *TASKLETS, K.RUNSTATE_CHANGE, K.VIRQ_INJECT, K.VM_EXIT)) == [
        (0, 0, "RUNSTATE_CHANGE", "domv0", 2),
        (1267, 0, "LOCK_ACQUIRE", "tasklet_lock", -1),
        (1287, 0, "TASKLET_SCHEDULE", "domv0:assert_evtchn_irq_tasklet", "domv0:timer"),
        (1287, 0, "LOCK_RELEASE", "tasklet_lock", 0),
        (1304, 0, "LOCK_ACQUIRE", "tasklet_lock", -1),
        (1304, 0, "TASKLET_ENTRY", "domv0:assert_evtchn_irq_tasklet", -1),
        (1324, 0, "LOCK_RELEASE", "tasklet_lock", 0),
        (1424, 0, "RUNSTATE_CHANGE", "domv0", 1),
        (1424, 0, "TASKLET_EXIT", "domv0:assert_evtchn_irq_tasklet", -1),
        (1431, 0, "LOCK_ACQUIRE", "tasklet_lock", -1),
        (1451, 0, "LOCK_RELEASE", "tasklet_lock", 0),
        (1461, 0, "RUNSTATE_CHANGE", "domv0", 0),
        (2571, 0, "VIRQ_INJECT", "domv0:timer", "domv0"),
        (5891, 0, "VM_EXIT", "domv0", 12),
        (6211, 0, "RUNSTATE_CHANGE", "domv0", 2),
    ]
    check_trace(m.sim.trace.finish(), drained=True)


def test_latched_interrupt_is_taken_when_interrupts_are_enabled() -> None:
    """A busy guest on CPU 0; MSI A at 1000, MSI B (another device) at 1050.

    A causes the VM exit (300) and is handled 1300-1477 (lock 1 at 1407).
    B arrives while interrupts are off and is latched; it is taken when the
    exit handler enables interrupts, at 1477: its handler latency, 427 ns,
    includes the wait. A's is the VM exit, 300 ns.
    """
    m = tiny()
    d = m.add_domain("dom")
    v = m.add_vcpu(d, 0, "busy")
    m.add_device(d, v, Replay((1000,)))
    m.add_device(d, v, Replay((1050,)))
    m.sim.run(20_000)
    assert events(m, (K.IRQ_RAISE, K.IRQ_ENTRY, K.IRQ_EXIT, K.VM_EXIT), until=1700) == [
        (1000, 0, "IRQ_RAISE", "dom:msi0", 0),
        (1000, 0, "VM_EXIT", "domv0", 1),
        (1050, 0, "IRQ_RAISE", "dom:msi1", 0),
        (1300, 0, "IRQ_ENTRY", "dom:msi0", 0),
        (1477, 0, "IRQ_EXIT", "dom:msi0", 0),
        (1477, 0, "IRQ_ENTRY", "dom:msi1", 0),
        (1654, 0, "IRQ_EXIT", "dom:msi1", 0),
    ]
    latency = irq_latency(m.sim.trace.finish())
    assert latency["dom:msi0"]["handler"].max_ns == 300
    assert latency["dom:msi1"]["handler"].max_ns == 427


def test_three_lock_acquisitions_per_passthrough_interrupt() -> None:
    """A busy guest, one device every 50 us, no ticks: lock 1, 2 and 3 for each MSI."""
    m = tiny()
    d = m.add_domain("dom")
    v = m.add_vcpu(d, 1, "busy")
    m.add_device(d, v, Periodic(50_000, phase_ns=10_000))
    m.sim.run(5_000_000)
    trace = m.sim.trace.finish()
    check_trace(trace)
    msis = int((trace.kind == K.IRQ_ENTRY).sum())
    assert msis == 100
    assert ts.lock_stats(trace)["tasklet_lock"].acquisitions == 3 * msis
    assert int((trace.kind == K.VIRQ_INJECT).sum()) == msis


def test_invariant_checks_can_fail() -> None:
    """Tamper with a valid trace: a second holder, and a run nobody scheduled."""
    m = tiny()
    d = m.add_domain("dom")
    v = m.add_vcpu(d, 0, "idle")
    m.add_device(d, v, Replay((1000,)))
    m.sim.run(20_000)
    trace = m.sim.trace.finish()
    check_trace(trace, drained=True)
    columns = {k: c.copy() for k, c in trace.columns.items()}
    release = np.flatnonzero(columns["kind"] == K.LOCK_RELEASE)[0]
    columns["kind"][release] = K.LOCK_ACQUIRE
    with pytest.raises(InvariantError, match="out of turn"):
        check_trace(ts.Trace(columns, trace.names, trace.meta))
    columns = {k: c.copy() for k, c in trace.columns.items()}
    sched = np.flatnonzero(columns["kind"] == K.TASKLET_SCHEDULE)[0]
    columns["kind"][sched] = K.SOFTIRQ_RAISE
    with pytest.raises(InvariantError, match="unscheduled"):
        check_trace(ts.Trace(columns, trace.names, trace.meta))


def test_invariant_checks_catch_a_lost_schedule_and_a_second_run() -> None:
    """Two tasklets interleaved: tampering with one is caught, whichever it is."""
    m = tiny()
    d = m.add_domain("dom")
    v = m.add_vcpu(d, 0, "idle", burst_ns=500)
    m.add_device(d, v, Replay((1000, 30_000)))
    m.add_tick(v, Periodic(40_000, phase_ns=15_000))
    m.sim.run(60_000)
    trace = m.sim.trace.finish()
    check_trace(trace, drained=True)
    kinds = trace.kind
    assert len(np.unique(trace.subject[kinds == K.TASKLET_ENTRY])) == 2
    # the last run of the device's tasklet vanishes: its schedule is lost
    dirq = trace.names.ident("tasklet", "dom:dirq_tasklet")
    mine = trace.subject == dirq
    last_entry = np.flatnonzero(mine & (kinds == K.TASKLET_ENTRY))[-1]
    last_exit = np.flatnonzero(mine & (kinds == K.TASKLET_EXIT))[-1]
    columns = {k: c.copy() for k, c in trace.columns.items()}
    columns["kind"][[last_entry, last_exit]] = K.SOFTIRQ_RAISE
    lost = ts.Trace(columns, trace.names, trace.meta)
    check_trace(lost)
    with pytest.raises(InvariantError, match=f"tasklet {dirq} scheduled at .* never ran"):
        check_trace(lost, drained=True)
    # the second schedule of it vanishes: its second run was not scheduled
    second = np.flatnonzero(mine & (kinds == K.TASKLET_SCHEDULE))[1]
    columns = {k: c.copy() for k, c in trace.columns.items()}
    columns["kind"][second] = K.SOFTIRQ_RAISE
    with pytest.raises(InvariantError, match=f"tasklet {dirq} ran at .* unscheduled"):
        check_trace(ts.Trace(columns, trace.names, trace.meta))
