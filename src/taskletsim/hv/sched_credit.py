"""A credit1-like scheduler (xen/common/sched_credit.c at RELEASE-4.4.0).

Per physical CPU a run queue ordered by priority, BOOST > UNDER > OVER >
IDLE, FIFO within a priority (``__runq_insert``). What it keeps of credit1:

- ``csched_vcpu_wake``: a vCPU woken from blocked with priority UNDER is
  BOOSTed; ``__runq_tickle`` raises SCHEDULE on its pCPU if it outranks the
  current vCPU, else on one idle pCPU of its affinity, soft affinity first
  (that pCPU may steal it).
- ``csched_schedule``: the current vCPU, if still runnable, goes back into
  the queue behind its equals, and the head runs for a 30 ms timeslice; a
  vCPU that has run less than the 1 ms rate limit keeps the CPU. A pCPU
  that would run nothing better than OVER steals work from the run queues of
  busy peers (not idle ones), its own node first (``csched_load_balance``).
- ``csched_tick`` every 10 ms while a guest runs: burn the current vCPU's
  credit; a BOOSTed vCPU drops to UNDER (``csched_vcpu_acct``).
- ``csched_acct`` every 30 ms: each active vCPU gets its fair share of the
  pool's time as credit (capped at one timeslice); UNDER if credit >= 0,
  else OVER. Weights and caps are not modelled: all vCPUs weigh the same.

The decision is made as ``schedule()`` starts, which is where Xen stamps the
runstate changes (``now = NOW()`` before ``do_schedule``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..kernel.timers import Timer
from .guests import VCpu
from .vocabulary import Runstate

if TYPE_CHECKING:
    from .cpu import PCpu
    from .machine import Machine
    from .seam import Proc

PRI_BOOST = 0
PRI_UNDER = -1
PRI_OVER = -2
PRI_IDLE = -64


class CreditScheduler:
    """Run queues, priorities and credits; the timeslice and tick timers of each pCPU."""

    def __init__(
        self,
        machine: Machine,
        tslice_ns: int = 30_000_000,
        ratelimit_ns: int = 1_000_000,
        tick_ns: int = 10_000_000,
        acct_ns: int = 30_000_000,
    ) -> None:
        self.machine = machine
        self.tslice_ns = tslice_ns
        self.ratelimit_ns = ratelimit_ns
        self.tick_ns = tick_ns
        self.acct_ns = acct_ns
        ncpus = machine.topology.ncpus
        self.runq: list[list[VCpu]] = [[] for _ in range(ncpus)]
        self.idlers: set[int] = set(range(ncpus))
        self.stealable: set[int] = set()
        self.s_timer = [
            Timer(machine, f"s_timer:cpu{c}", c, self.s_timer_fn, kind="sched")
            for c in range(ncpus)
        ]
        self.ticker = [
            Timer(machine, f"csched_tick:cpu{c}", c, self.csched_tick, kind="sched")
            for c in range(ncpus)
        ]
        self._ticking = [False] * ncpus
        machine.sim.call_later(acct_ns, self.csched_acct)

    # -- run queues ---------------------------------------------------------

    def runq_insert(self, cpu: int, v: VCpu) -> None:
        """``__runq_insert``: after every queued vCPU of priority >= its own."""
        queue = self.runq[cpu]
        i = 0
        while i < len(queue) and queue[i].pri >= v.pri:
            i += 1
        queue.insert(i, v)
        v.on_runq = cpu
        if len(v.affinity) > 1:
            self.stealable.add(cpu)

    def runq_remove(self, v: VCpu) -> None:
        """``__runq_remove``."""
        if v.on_runq >= 0:
            self.runq[v.on_runq].remove(v)
            v.on_runq = -1

    # -- hooks called by common/schedule.c ------------------------------------

    def wake(self, cpu: PCpu, v: VCpu) -> Proc:
        """``csched_vcpu_wake``: BOOST if UNDER, queue it, ``__runq_tickle``."""
        if v.pri == PRI_UNDER:
            v.pri = PRI_BOOST
        self.runq_insert(v.processor, v)
        yield from self.runq_tickle(cpu, v)

    def runq_tickle(self, cpu: PCpu, new: VCpu) -> Proc:
        """``__runq_tickle``: SCHEDULE where ``new`` outranks the current vCPU, else on
        one idle pCPU of its affinity."""
        target = new.processor
        current = self.machine.cpus[target].current
        softirq = self.machine.softirq_nr["SCHEDULE_SOFTIRQ"]
        if new.pri > (PRI_IDLE if current.is_idle else current.pri):
            yield from cpu.cpu_raise_softirq(target, softirq)
            return
        for step in (new.soft_affinity, new.affinity):  # soft first, then hard
            for other in step:
                if other != target and other in self.idlers:
                    yield from cpu.cpu_raise_softirq(other, softirq)
                    return

    def do_schedule(self, cpu: PCpu, now: int) -> tuple[VCpu, int | None]:
        """``csched_schedule``: the vCPU to run next on ``cpu`` and its time slice."""
        prev = cpu.current
        if not prev.is_idle:
            prev.credit -= now - prev.start_time
            prev.start_time = now
            runnable = prev.is_runnable()
            if runnable and now - prev.run_since < self.ratelimit_ns:
                return prev, self.ratelimit_ns - (now - prev.run_since)
            if runnable:
                self.runq_insert(cpu.id, prev)
        queue = self.runq[cpu.id]
        nxt = queue[0] if queue else None
        if nxt is None or nxt.pri <= PRI_OVER:
            stolen = self.load_balance(cpu.id, nxt)
            if stolen is not None:
                nxt = stolen
        if nxt is None:
            return cpu.idle_vcpu, None
        self.runq_remove(nxt)
        if not queue:
            self.stealable.discard(cpu.id)
        return nxt, self.tslice_ns

    def load_balance(self, cpu: int, best: VCpu | None) -> VCpu | None:
        """``csched_load_balance``: steal a vCPU of strictly higher priority than ``best``
        whose affinity allows ``cpu``, from the run queue of a busy peer only
        (``workers = online & ~idlers``: a pCPU running its idle vCPU is left its own
        work, ``csched_runq_steal``), peers on this CPU's node first, then node by node
        (``cycle_node``); soft affinity first, then hard (the balance steps; at the soft
        step a vCPU whose soft affinity is all of its hard one is skipped). A peer's run
        queue is read in priority order up to the first vCPU not above ``best``."""
        floor = best.pri if best is not None else PRI_IDLE
        cpus, sockets = self.machine.cpus, self.machine.topology.sockets
        node = cpus[cpu].socket
        workers = sorted(
            (c for c in self.stealable if c != cpu and c not in self.idlers),
            key=lambda c: ((cpus[c].socket - node) % sockets, c),  # cycle_node from ours
        )
        for soft in (True, False):
            for peer in workers:
                if cpus[peer].current.is_idle:
                    continue
                for v in self.runq[peer]:
                    if v.pri <= floor:
                        break
                    if soft and v.soft_affinity == v.affinity:
                        continue
                    if cpu in (v.soft_affinity if soft else v.affinity):
                        self.machine.vcpu_migrate(v, cpu)
                        return v
        return None

    def dispatched(self, cpu: PCpu, v: VCpu, tslice: int | None, now: int) -> None:
        """After the pick: arm the timeslice, start or stop the accounting tick."""
        if v.is_idle:
            self.idlers.add(cpu.id)
            self.s_timer[cpu.id].stop_timer()
            self.ticker[cpu.id].stop_timer()
            self._ticking[cpu.id] = False
            return
        self.idlers.discard(cpu.id)
        if tslice is not None:
            self.s_timer[cpu.id].set_timer(tslice)
        if not self._ticking[cpu.id]:
            self._ticking[cpu.id] = True
            self.ticker[cpu.id].set_timer(self.tick_ns)

    # -- timers ---------------------------------------------------------------

    def s_timer_fn(self, cpu: PCpu, _timer: object) -> Proc:
        """``s_timer_fn``: the timeslice is over: raise SCHEDULE."""
        cpu.raise_softirq(self.machine.softirq_nr["SCHEDULE_SOFTIRQ"])
        return
        yield

    def csched_tick(self, cpu: PCpu, _timer: object) -> Proc:
        """``csched_tick``: account the current vCPU; a BOOSTed one drops to UNDER."""
        v = cpu.current
        if not v.is_idle:
            now = self.machine.sim.clock.now
            v.credit -= now - v.start_time
            v.start_time = now
            if v.pri == PRI_BOOST:
                v.pri = PRI_UNDER
            self.ticker[cpu.id].set_timer(self.tick_ns)
        else:
            self._ticking[cpu.id] = False
        return
        yield

    def csched_acct(self, _event: object) -> None:
        """``csched_acct``: hand out the period's credit, fair shares capped at a slice."""
        vcpus = [v for v in self.machine.vcpus if v.runstate != Runstate.OFFLINE]
        if vcpus:
            share = self.acct_ns * self.machine.topology.ncpus // len(vcpus)
            for v in vcpus:
                v.credit = min(v.credit + share, self.tslice_ns)
                v.pri = PRI_UNDER if v.credit >= 0 else PRI_OVER
        self.machine.sim.call_later(self.acct_ns, self.csched_acct)
