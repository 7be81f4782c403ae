"""``linux-bh-wq``: deferred work on a ``WQ_BH`` workqueue (``system_bh_wq``, Linux 6.9).

Read in kernel/workqueue.c as of "workqueue: Implement BH workqueues to
eventually replace tasklets" (v6.9) and kernel/softirq.c:

- ``queue_work`` -> ``queue_work_on(this CPU)``: IRQs saved off;
  ``test_and_set_bit(WORK_STRUCT_PENDING_BIT)``; if newly set,
  ``__queue_work``: the per-CPU BH pool of this CPU, **unless the item was
  last on another pool and is still running there** (``get_work_pool``,
  ``find_worker_executing_work`` under that pool's ``pool->lock``): then it
  is queued on that pool, whose CPU is sent an irq_work IPI
  (``kick_bh_pool`` -> ``irq_work_queue_on``) that raises its softirq.
  ``insert_work`` under ``pool->lock``; ``kick_pool``: on the pool's own CPU
  ``raise_softirq_irqoff(TASKLET_SOFTIRQ)``.
- ``tasklet_action`` -> ``workqueue_softirq_action(false)``: if the pool has
  work, ``bh_worker``: ``raw_spin_lock_irq(&pool->lock)``; process the first
  work item (``process_one_work``: into ``busy_hash``, PENDING cleared, the
  lock dropped around the function, taken again after), while work remains,
  at most ``BH_WORKER_RESTARTS`` = 10 items and ``BH_WORKER_JIFFIES`` = 2 ms
  (in jiffies); then ``kick_pool`` re-raises the softirq if work remains.

``pool->lock`` is a raw spinlock: on x86 a queued spinlock (this design's
default lock kind, ``mcs``). A work item is a :class:`Tasklet` here: its
SCHED bit is ``WORK_STRUCT_PENDING``, ``scheduled_on`` the pool it was last
queued on (``get_work_pool``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from ..kernel.seam import DESIGNS, STATE_SCHED, Proc, Tasklet
from ..linux.seam import Cpu, Host
from .linux_base import LinuxHostDesign

BH_WORKER_RESTARTS = 10
"""``BH_WORKER_RESTARTS`` (kernel/workqueue.c)."""
BH_WORKER_TIME_NS = 2_000_000
"""``BH_WORKER_JIFFIES``: ``msecs_to_jiffies(2)``, compared in jiffies."""


class BhPool:
    """``struct worker_pool`` of one CPU's BH workers (``bh_worker_pools``, normal priority)."""

    __slots__ = ("cpu", "current", "lock", "worklist")

    def __init__(self, cpu: int, host: Host) -> None:
        self.cpu = cpu
        self.lock = host.make_lock(f"cpu{cpu}:pool->lock")
        self.worklist: deque[Tasklet] = deque()
        self.current: Tasklet | None = None
        """The work item its one BH worker executes (``busy_hash``)."""


class LinuxBhWorkqueue(LinuxHostDesign):
    """Per-CPU BH worker pools run from ``TASKLET_SOFTIRQ``, non-reentrant work items."""

    name = "linux-bh-wq"
    description = "Linux 6.9: queue_work on system_bh_wq; per-CPU BH pools, pool->lock"

    def __init__(self, machine: Host) -> None:
        super().__init__(machine)
        self.pools = [BhPool(c, machine) for c in range(machine.topology.ncpus)]
        self.TASKLET_SOFTIRQ = machine.softirq_nr["TASKLET_SOFTIRQ"]
        self._list_ns = machine.costs.tasklet_list_ns

    def softirq_handlers(self) -> dict[str, Callable[[Any], Proc]]:
        return {"TASKLET_SOFTIRQ": self.tasklet_action}

    # -- queueing -----------------------------------------------------------------

    def tasklet_schedule(self, cpu: Cpu, t: Tasklet, cause: int = -1) -> Proc:
        """``queue_work(system_bh_wq, work)`` -> ``queue_work_on``: PENDING, ``__queue_work``."""
        flags = cpu.local_irq_save()
        yield from self.atomic(cpu, t)  # test_and_set_bit(WORK_STRUCT_PENDING_BIT)
        was = t.state
        t.state |= STATE_SCHED
        self._trace.tasklet_schedule(cpu.id, t.id, cause)
        if not was & STATE_SCHED:
            yield from self.__queue_work(cpu, t)
        yield from cpu.local_irq_restore(flags)

    def __queue_work(self, cpu: Cpu, t: Tasklet) -> Proc:
        """``__queue_work``: this CPU's pool, or the pool where ``t`` still runs."""
        pool = self.pools[cpu.id]
        last = t.scheduled_on
        if last >= 0 and last != cpu.id:
            last_pool = self.pools[last]
            yield from cpu.spin_lock(last_pool.lock)
            if last_pool.current is t:  # find_worker_executing_work
                pool = last_pool
            else:
                cpu.spin_unlock(last_pool.lock)
                yield from cpu.spin_lock(pool.lock)
        else:
            yield from cpu.spin_lock(pool.lock)
        yield from cpu.work(self._list_ns)  # insert_work
        pool.worklist.append(t)
        t.scheduled_on = pool.cpu
        self.kick_bh_pool(cpu, pool)
        cpu.spin_unlock(pool.lock)

    def kick_bh_pool(self, cpu: Cpu, pool: BhPool) -> None:
        """``kick_bh_pool``: raise ``TASKLET_SOFTIRQ`` here, or on the pool's CPU from an
        irq_work IPI (``irq_work_queue_on``)."""
        if pool.cpu == cpu.id:
            cpu.raise_softirq(self.TASKLET_SOFTIRQ)
            return
        nr = self.TASKLET_SOFTIRQ

        def bh_pool_kick(target: Any) -> Proc:
            target.raise_softirq(nr)
            return
            yield

        self.machine.cpus[pool.cpu].call_function(bh_pool_kick)

    # -- running ---------------------------------------------------------------------

    def tasklet_action(self, cpu: Cpu) -> Proc:
        """``tasklet_action``: ``workqueue_softirq_action(false)`` (this design queues no
        tasklets of its own)."""
        pool = self.pools[cpu.id]
        if pool.worklist:  # need_more_worker
            yield from self.bh_worker(cpu, pool)

    def bh_worker(self, cpu: Cpu, pool: BhPool) -> Proc:
        """``bh_worker``: run queued items under the pool's budget; re-kick if any remain."""
        jiffy = cpu.costs.jiffy_ns
        end = self._clock.now // jiffy + max(1, BH_WORKER_TIME_NS // jiffy)
        nr_restarts = BH_WORKER_RESTARTS
        yield from cpu.spin_lock_irq(pool.lock)
        while pool.worklist:
            work = pool.worklist.popleft()
            yield from self.process_one_work(cpu, pool, work)
            nr_restarts -= 1
            if not nr_restarts or self._clock.now // jiffy >= end:
                break
        if pool.worklist:  # kick_pool
            cpu.raise_softirq(self.TASKLET_SOFTIRQ)
        yield from cpu.spin_unlock_irq(pool.lock)

    def process_one_work(self, cpu: Cpu, pool: BhPool, work: Tasklet) -> Proc:
        """``process_one_work``: into ``busy_hash``, PENDING cleared, the function run with
        ``pool->lock`` dropped (IRQs on), the lock taken again; called and returns with
        it held."""
        pool.current = work
        yield from self.atomic(cpu, work)  # set_work_pool_and_clear_pending
        work.state &= ~STATE_SCHED
        self._trace.tasklet_entry(cpu.id, work.id)
        yield from cpu.spin_unlock_irq(pool.lock)
        yield from work.func(cpu)
        self._trace.tasklet_exit(cpu.id, work.id)
        yield from cpu.spin_lock_irq(pool.lock)
        pool.current = None


DESIGNS.register(LinuxBhWorkqueue)
