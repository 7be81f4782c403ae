"""Wake-up, blocking and dispatch (xen/common/schedule.c, credit1's hooks), as a stand-in.

Runstates change exactly where Xen changes them: ``vcpu_wake`` (blocked ->
runnable), ``schedule`` (runnable -> running for the next vCPU; running ->
blocked or runnable for the previous one). The policy is the stand-in of
one guest vCPU pinned per pCPU: ``schedule`` runs it when it is not
blocked, else the idle vCPU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .guests import Runstate, VCpu
from .trace import EventKind

if TYPE_CHECKING:
    from .cpu import PCpu, Proc

_RUNSTATE = int(EventKind.RUNSTATE_CHANGE)


def vcpu_runstate_change(cpu: PCpu, v: VCpu, new: Runstate) -> None:
    """``vcpu_runstate_change``: record the new runstate of a guest vCPU."""
    if v.is_idle or v.runstate == new:
        return
    v.runstate = new
    cpu.machine.sim.emit((cpu.machine.sim.clock._now, cpu.id, _RUNSTATE, v.id, int(new)))


def vcpu_wake(cpu: PCpu, v: VCpu) -> Proc:
    """``vcpu_wake``: blocked -> runnable; credit1's ``__runq_tickle``: SCHEDULE on its pCPU."""
    yield from cpu.work(cpu.costs.vcpu_wake_ns)
    if v.runstate == Runstate.BLOCKED:
        vcpu_runstate_change(cpu, v, Runstate.RUNNABLE)
        yield from cpu.cpu_raise_softirq(v.processor, cpu.machine.softirq_nr["SCHEDULE_SOFTIRQ"])


def vcpu_unblock(cpu: PCpu, v: VCpu) -> Proc:
    """``vcpu_unblock``: if ``_VPF_blocked`` was set, clear it and wake the vCPU."""
    if v.blocked:
        v.blocked = False
        yield from vcpu_wake(cpu, v)


def vcpu_kick(cpu: PCpu, v: VCpu) -> Proc:
    """``vcpu_kick``: unblock; if it runs on another CPU, ``VCPU_KICK_SOFTIRQ`` there (an IPI)."""
    running = v.runstate == Runstate.RUNNING
    yield from vcpu_unblock(cpu, v)
    if running and v is not cpu.current:
        yield from cpu.cpu_raise_softirq(v.processor, cpu.machine.softirq_nr["VCPU_KICK_SOFTIRQ"])


def vcpu_block(cpu: PCpu, v: VCpu) -> None:
    """``vcpu_block``: set ``_VPF_blocked``; undo it if events are pending; else SCHEDULE."""
    v.blocked = True
    if v.pending_virqs:
        v.blocked = False
        return
    cpu.raise_softirq(cpu.machine.softirq_nr["SCHEDULE_SOFTIRQ"])


def schedule(cpu: PCpu) -> Proc:
    """``schedule`` (SCHEDULE_SOFTIRQ): pick the next vCPU, change runstates, switch context."""
    prev = cpu.current
    guest = cpu.machine.guest_on[cpu.id]
    runnable = guest is not None and not guest.blocked and guest.runstate != Runstate.OFFLINE
    nxt = guest if runnable and guest is not None else cpu.idle_vcpu
    yield from cpu.work(cpu.costs.schedule_ns)
    if nxt is prev:
        return
    if not prev.is_idle:
        vcpu_runstate_change(cpu, prev, Runstate.BLOCKED if prev.blocked else Runstate.RUNNABLE)
    vcpu_runstate_change(cpu, nxt, Runstate.RUNNING)
    yield from cpu.work(cpu.costs.context_switch_ns)
    cpu.current = nxt
    cpu.switched = True
