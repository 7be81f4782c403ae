"""Wake-up, blocking and dispatch (xen/common/schedule.c), over :mod:`sched_credit`.

Runstates change exactly where Xen changes them: ``vcpu_wake`` (blocked ->
runnable), ``schedule`` (the next vCPU -> running; the previous one ->
blocked, offline or runnable, i.e. preempted), stamped with the time
``schedule()`` started, as Xen's ``now = NOW()`` is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .guests import VCpu
from .vocabulary import Runstate

if TYPE_CHECKING:
    from .cpu import PCpu
    from .seam import Proc

_RUNNING = int(Runstate.RUNNING)  # compared at every kick: an IntEnum member loads slowly


def vcpu_runstate_change(cpu: PCpu, v: VCpu, new: Runstate) -> None:
    """``vcpu_runstate_change``: record the new runstate of a guest vCPU."""
    if v.is_idle or v.runstate == new:
        return
    v.runstate = new
    cpu.trace.runstate_change(cpu.id, v.id, int(new))


def vcpu_wake(cpu: PCpu, v: VCpu) -> Proc:
    """``vcpu_wake``: blocked -> runnable; credit1's ``csched_vcpu_wake`` (BOOST, tickle)."""
    yield from cpu.work(cpu.costs.vcpu_wake_ns)
    if v.runstate in (Runstate.BLOCKED, Runstate.OFFLINE) and v.is_runnable():
        vcpu_runstate_change(cpu, v, Runstate.RUNNABLE)
        yield from cpu.machine.sched.wake(cpu, v)


def vcpu_unblock(cpu: PCpu, v: VCpu) -> Proc:
    """``vcpu_unblock``: if ``_VPF_blocked`` was set, clear it and wake the vCPU."""
    if v.blocked:
        v.blocked = False
        yield from vcpu_wake(cpu, v)


def vcpu_kick(cpu: PCpu, v: VCpu) -> Proc:
    """``vcpu_kick``: unblock; if it runs on another CPU, ``VCPU_KICK_SOFTIRQ`` there (an IPI)."""
    running = v.runstate == _RUNNING
    yield from vcpu_unblock(cpu, v)
    if running and v is not cpu.current:
        yield from cpu.cpu_raise_softirq(v.processor, cpu.machine.softirq_nr["VCPU_KICK_SOFTIRQ"])


def vcpu_block(cpu: PCpu, v: VCpu) -> None:
    """``vcpu_block``: set ``_VPF_blocked``; undo it if events are pending; else SCHEDULE."""
    v.blocked = True
    if v.events_need_delivery():
        v.blocked = False
        return
    cpu.raise_softirq(cpu.machine.softirq_nr["SCHEDULE_SOFTIRQ"])


def schedule(cpu: PCpu) -> Proc:
    """``schedule`` (SCHEDULE_SOFTIRQ): under the schedule lock (IRQs off), ask the
    scheduler for the next vCPU, change runstates; stop the periodic timer of the
    vCPU switched from, ``vcpu_periodic_timer_work`` for the one switched to; switch
    context."""
    machine = cpu.machine
    now = machine.sim.clock.now
    cpu.local_irq_disable()
    prev = cpu.current
    nxt, tslice = machine.sched.do_schedule(cpu, now)
    if nxt is not prev:
        if not prev.is_idle:
            if prev.offline:
                left = Runstate.OFFLINE
            elif prev.blocked:
                left = Runstate.BLOCKED
            else:
                left = Runstate.RUNNABLE
            vcpu_runstate_change(cpu, prev, left)
        vcpu_runstate_change(cpu, nxt, Runstate.RUNNING)
        nxt.start_time = nxt.run_since = now
    machine.sched.dispatched(cpu, nxt, tslice, now)
    yield from cpu.work(cpu.costs.schedule_ns)
    if nxt is not prev:
        if prev.periodic_timer is not None:
            prev.periodic_timer.stop_timer()
        yield from machine.vcpu_periodic_timer_work(cpu, nxt)
        yield from cpu.work(cpu.costs.context_switch_ns)
        cpu.current = nxt
        cpu.switched = True
    yield from cpu.local_irq_enable()
