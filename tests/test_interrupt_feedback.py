"""The loops that drive the paths, on hand-worked cases (hosts of ``helpers.tiny()``).

- The local APIC keeps one request per vector: arrivals while it is pending merge.
- Xen's event channels: a port already pending and an upcall already pending
  absorb further events; only a new upcall reaches ``hvm_assert_evtchn_irq``.
- A guest keeps its tick: a singleshot timer is re-armed only when the guest
  handles a tick; Xen's periodic timer stops while its vCPU is descheduled.
- Devices push back: ``eoi`` holds a request until the guest's EOI, ``napi``
  lets the guest poll with the interrupt masked.
"""

from __future__ import annotations

import itertools

import pytest

import taskletsim as ts
from taskletsim.core.events import (
    COALESCE_DEVICE,
    COALESCE_LAPIC,
    COALESCE_POLLED,
    COALESCE_VIRTUAL,
)
from taskletsim.core.events import EventKind as K
from taskletsim.hv.vocabulary import ExitReason
from taskletsim.metrics import check_trace
from taskletsim.platform.arrivals import Periodic, Replay

from .helpers import events, tiny


def times(m: ts.Machine, kind: K, subject: str, arg: int | None = None) -> list[int]:
    """When events of ``kind`` about ``subject`` happened (optionally with ``arg``)."""
    return [e[0] for e in events(m, (kind,)) if e[3] == subject and (arg is None or e[4] == arg)]


def irqs_off_on_cpu0(m: ts.Machine, at: int, ns: int) -> None:
    """CPU 0 runs ``ns`` of hypervisor code with interrupts off, asked at ``at``."""

    def window(cpu):  # type: ignore[no-untyped-def]
        flags = cpu.local_irq_save()
        yield from cpu.work(ns)
        yield from cpu.local_irq_restore(flags)

    m.sim.call_later(at, lambda _e: m.cpus[0].call_on_cpu(window))


def test_arrivals_of_a_pending_vector_merge() -> None:
    """Four MSIs of one device while CPU 0 has interrupts off: one handler run.

    At 1000 CPU 0 is asked (an IPI: entry 100, exit 50) to run 5 us with
    interrupts off, 1150-6150. The MSI at 2000 sets the vector's IRR bit; those
    at 3000, 4000 and 5000 find it set and merge. At 6150 interrupts are on
    again: one ``do_IRQ``, one tasklet, one injection.
    """
    m = tiny()
    d = m.add_domain("dom")
    v = m.add_vcpu(d, 1, "idle")
    m.add_device(d, v, Replay((2000, 3000, 4000, 5000)), cpu=0, model="open")
    irqs_off_on_cpu0(m, 1000, 5000)
    m.sim.run(30_000)
    assert times(m, K.IRQ_RAISE, "dom:msi0") == [2000]
    assert times(m, K.IRQ_COALESCE, "dom:msi0", COALESCE_LAPIC) == [3000, 4000, 5000]
    assert times(m, K.IRQ_ENTRY, "dom:msi0") == [6150]
    assert len(times(m, K.TASKLET_SCHEDULE, "dom:dirq_tasklet")) == 1
    assert len(times(m, K.VIRQ_INJECT, "dom:msi0")) == 1
    check_trace(m.sim.trace.finish(), drained=True)


def test_a_tick_is_not_rearmed_while_its_vcpu_has_not_run() -> None:
    """Singleshot ticks every 100 us; the vCPU is down from 50 us to 1 ms.

    The tick armed for 100 us fires; the guest cannot handle it, so it arms
    no next one: no tick until the vCPU is up again at 1 ms, runs, handles
    that tick (re-arming at the next grid point, 1.1 ms), and so on.
    """
    m = tiny()
    d = m.add_domain("dom")
    v = m.add_vcpu(d, 0, "idle")
    m.add_guest_tick(v, 100_000, 100_000, "singleshot")
    m.sim.call_later(50_000, lambda _e: m.vcpu_down(v))
    m.sim.call_later(1_000_000, lambda _e: m.vcpu_up(v))
    m.sim.run(1_350_000)
    assert times(m, K.IRQ_RAISE, "domv0:timer") == [100_000, 1_100_000, 1_200_000, 1_300_000]
    exits = [e[4] for e in events(m, (K.VM_EXIT,)) if e[3] == "domv0"]
    assert exits.count(int(ExitReason.VMCALL)) == 4  # each handled tick re-arms the next


def test_a_free_running_tick_keeps_firing_and_merges() -> None:
    """The same with a free-running tick: it fires every 100 us while the vCPU is down;
    the first sets the port and the upcall pending (one tasklet); the next nine find
    the port still pending and merge into it, scheduling no tasklet."""
    m = tiny()
    d = m.add_domain("dom")
    v = m.add_vcpu(d, 0, "idle")
    m.add_tick(v, Periodic(100_000, phase_ns=100_000))
    m.sim.call_later(50_000, lambda _e: m.vcpu_down(v))
    m.sim.run(1_050_000)
    assert times(m, K.IRQ_RAISE, "domv0:timer") == [100_000 * k for k in range(1, 11)]
    merged = times(m, K.IRQ_COALESCE, "domv0:timer", COALESCE_VIRTUAL)
    assert len(merged) == 9
    assert len(times(m, K.TASKLET_SCHEDULE, "domv0:assert_evtchn_irq_tasklet")) == 1


def test_a_second_event_while_the_upcall_is_pending_schedules_no_tasklet() -> None:
    """A tick, then a passthrough interrupt taken as an event channel, to a vCPU that is
    down: the interrupt's port is newly pending, but the upcall already is, so
    ``vcpu_mark_events_pending`` stops there: one ``assert_evtchn_irq_tasklet`` run."""
    m = tiny()
    d = m.add_domain("dom")
    v = m.add_vcpu(d, 0, "idle")
    m.add_tick(v, Replay((100_000,)))
    m.add_device(d, v, Replay((200_000,)), delivery="evtchn")
    m.sim.call_later(50_000, lambda _e: m.vcpu_down(v))
    m.sim.run(300_000)
    assert len(times(m, K.TASKLET_SCHEDULE, "domv0:assert_evtchn_irq_tasklet")) == 1
    assert len(times(m, K.TASKLET_SCHEDULE, "dom:dirq_tasklet")) == 1
    assert not times(m, K.IRQ_COALESCE, "dom:msi0")  # its port was not pending
    assert v.upcall_pending and list(v.evtchn_pending) == [v.tick, d.pirqs[0].source]


def test_a_vlapic_vector_still_pending_merges() -> None:
    """Two MSIs to a vCPU that is down: the second finds the vector pending in the vLAPIC."""
    m = tiny()
    d = m.add_domain("dom")
    v = m.add_vcpu(d, 0, "idle")
    m.add_device(d, v, Replay((100_000, 200_000)), model="open")
    m.sim.call_later(50_000, lambda _e: m.vcpu_down(v))
    m.sim.run(300_000)
    assert len(times(m, K.IRQ_ENTRY, "dom:msi0")) == 2
    assert len(times(m, K.IRQ_COALESCE, "dom:msi0", COALESCE_VIRTUAL)) == 1


def test_periodic_ticks_stop_while_the_vcpu_is_descheduled() -> None:
    """Xen's periodic timer (``VCPUOP_set_periodic_timer``): a busy vCPU ticks about every
    100 us (``vcpu_periodic_timer_work`` re-arms it 100 us after it ran, so the
    interrupt entry and softirq before it, 530 ns, add up); an idle one,
    descheduled while it halts, gets none."""
    m = tiny()
    busy = m.add_vcpu(m.add_domain("busy"), 0, "busy")
    idle = m.add_vcpu(m.add_domain("idle"), 2, "idle")
    m.add_guest_tick(busy, 100_000, 100_000, "periodic")
    m.add_guest_tick(idle, 100_000, 100_000, "periodic")
    m.sim.run(1_050_000)
    ticks = times(m, K.IRQ_RAISE, "busyv0:timer")
    assert ticks[0] == 100_000 and len(ticks) == 10
    assert {b - a for a, b in itertools.pairwise(ticks)} == {100_530}
    assert times(m, K.IRQ_RAISE, "idlev0:timer") == []


def test_an_eoi_device_holds_one_request_until_the_guest_eoi() -> None:
    """ACKTYPE_EOI: the MSI at 1000 is in service until the guest's EOI. The arrival at
    1500 is held; those at 2000 and 2500 merge into it. The guest's ISR (3088-4088)
    ends in its EOI write: ``hvm_dpci_msi_eoi`` ends the service at 4495 (exit 300,
    ``event_lock`` 7, handling 100), and the held request is sent then."""
    m = tiny()
    d = m.add_domain("dom")
    v = m.add_vcpu(d, 0, "idle")
    m.add_device(d, v, Replay((1000, 1500, 2000, 2500)), model="eoi")
    m.sim.run(40_000)
    assert times(m, K.IRQ_RAISE, "dom:msi0") == [1000, 4495]
    assert times(m, K.IRQ_COALESCE, "dom:msi0", COALESCE_DEVICE) == [2000, 2500]
    assert len(times(m, K.VIRQ_INJECT, "dom:msi0")) == 2
    check_trace(m.sim.trace.finish(), drained=True)


def test_a_napi_device_is_polled_while_masked() -> None:
    """NAPI: the MSI at 1000 masks the device; the arrivals at 1500 and 2000 are taken
    by the guest's poll (100 ns each), so its ISR runs 3088-4288 instead of -4088 and
    ends in the EOI exit at 4288; the device is unmasked then, and the arrival at
    30000 sends an MSI again."""
    m = tiny()
    d = m.add_domain("dom")
    v = m.add_vcpu(d, 0, "idle")
    m.add_device(d, v, Replay((1000, 1500, 2000, 30_000)), model="napi")
    m.sim.run(60_000)
    assert times(m, K.IRQ_RAISE, "dom:msi0") == [1000, 30_000]
    assert times(m, K.IRQ_COALESCE, "dom:msi0", COALESCE_POLLED) == [1500, 2000]
    exits = [e for e in events(m, (K.VM_EXIT,)) if e[4] == int(ExitReason.APIC_WRITE)]
    assert exits[0][0] == 4288


def test_an_event_channel_pirq_needs_no_eoi_exit_nor_tasklet() -> None:
    """A PVHVM guest taking its pirq as an event channel: ``hvm_dirq_assist`` (IRQs on)
    sets the port and the upcall, and kicks the vCPU itself; the guest's ISR ends
    without an EOI exit."""
    m = tiny()
    d = m.add_domain("dom")
    v = m.add_vcpu(d, 0, "idle")
    m.add_device(d, v, Replay((1000,)), delivery="evtchn")
    m.sim.run(30_000)
    assert len(times(m, K.VIRQ_INJECT, "dom:msi0")) == 1
    assert not times(m, K.TASKLET_SCHEDULE, "domv0:assert_evtchn_irq_tasklet")
    reasons = [e[4] for e in events(m, (K.VM_EXIT,))]
    assert reasons == [int(ExitReason.HLT)]


@pytest.mark.parametrize(("skew", "distinct"), [("off", 1), ("on", 6)])
def test_a_guests_vcpus_tick_together_unless_skewed(skew: str, distinct: int) -> None:
    """Linux aligns every CPU's tick of a guest to one jiffy grid unless ``skew_tick=1``,
    which offsets CPU ``k`` of ``n`` by ``k * (period / 2) / n``."""
    result = ts.run(
        "xen-8socket-passthrough",
        design="rfc-percpu",
        seed=1,
        duration_ms=3,
        params={"skew_tick": skew, "tick_jitter_ns": 0, "idle_guests": 2, "idle_vcpus": 6},
    )
    trace = result.trace
    firsts = set()
    for k in range(6):
        sid = trace.names.ident("irq", f"idle0v{k}:timer")
        raised = trace.time_ns[(trace.kind == K.IRQ_RAISE) & (trace.subject == sid)]
        firsts.add(int(raised[0]))
    assert len(firsts) == distinct
    if skew == "on":
        ordered = sorted(firsts)
        assert {b - a for a, b in itertools.pairwise(ordered)} <= {83_333, 83_334}
