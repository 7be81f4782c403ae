"""A CPU of a bare-metal Linux host (x86, v6.9): its scheduler loop and idle, hard IRQ
entry and exit, ``__do_softirq`` with its limits, ``ksoftirqd``, BH-disabled sections.

Interrupts, IRQ-off windows and spinlocks are every kernel's
(:class:`taskletsim.kernel.cpu.PhysCpu`). This class adds, after
``kernel/softirq.c`` and ``kernel/sched/`` at v6.9:

- the CPU's life: ``__schedule`` picks a task from the run queue and runs its
  body; with none, ``do_idle`` halts until an interrupt makes work;
- ``common_interrupt``: ``irq_enter_rcu``, the handler, ``irq_exit_rcu``,
  which runs pending softirqs (``invoke_softirq`` -> ``__do_softirq``)
  unless the CPU is already in interrupt or BH-disabled context;
- ``handle_softirqs`` (``__do_softirq``): at most ``MAX_SOFTIRQ_RESTART``
  passes within ``MAX_SOFTIRQ_TIME`` (in jiffies) and while nothing needs the
  CPU; what is left wakes ``ksoftirqd``, a fair-class task;
- ``raise_softirq``, which wakes ``ksoftirqd`` when raised outside interrupt
  context, and ``local_bh_disable`` / ``local_bh_enable``;
- hrtimers on the local APIC timer (``hrtimer_interrupt``), the tick
  (``tick_sched_timer``: stopped while the CPU idles, NO_HZ_IDLE), and
  ``try_to_wake_up`` with its preemption check.

Preemption: a user task is preempted on the way back from an interrupt when a
reschedule was asked (``irqentry_exit_to_user_mode``); kernel threads give
the CPU back at their ``cond_resched`` points (a voluntary-preemption kernel,
as distributions ship it: an **assumption** for kernels built otherwise).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from simpy.events import Event

from ..kernel.cpu import _IRQ, PhysCpu
from ..kernel.irq import IrqSource
from ..platform.locks import SpinLock
from .costs import LinuxCosts
from .sched import (
    BLOCKED,
    BLOCKED_OUT,
    PREEMPTED,
    RUNNABLE,
    RUNNING,
    SCHED_FIFO,
    RunQueue,
    Task,
)

if TYPE_CHECKING:
    from .machine import LinuxHost
    from .seam import Proc

MAX_SOFTIRQ_RESTART = 10
"""``MAX_SOFTIRQ_RESTART`` (kernel/softirq.c)."""
MAX_SOFTIRQ_TIME_NS = 2_000_000
"""``MAX_SOFTIRQ_TIME``: ``msecs_to_jiffies(2)``, compared in jiffies."""

HrtimerFn = Callable[["LinuxCpu"], "Proc"]


class LinuxCpu(PhysCpu["LinuxHost", LinuxCosts]):
    """A Linux CPU: what every kernel's CPU has, its run queue, current task, preempt
    count (hard IRQ and softirq parts), ``ksoftirqd``, local timer and tick."""

    __slots__ = (
        "base_slice",
        "curr",
        "hardirq",
        "hrtimers_expired",
        "idle",
        "ksoftirqd",
        "lapic_timer",
        "need_resched",
        "picked_at",
        "rq",
        "slice_used_at",
        "softirq_count",
        "tick_stopped",
    )

    def __init__(self, machine: LinuxHost, cpu_id: int) -> None:
        self.rq = RunQueue()
        self.base_slice = machine.costs.base_slice_for(machine.topology.ncpus)
        """``sysctl_sched_base_slice`` for this host (ns)."""
        self.curr: Task | None = None
        self.need_resched = False
        self.hardirq = 0
        """``hardirq_count()``: nesting of hard IRQ handlers."""
        self.softirq_count = 0
        """``softirq_count()``: serving softirqs, or BH disabled (nonzero: in_interrupt)."""
        self.idle = False
        self.tick_stopped = True
        self.picked_at = 0
        self.slice_used_at = 0
        self.hrtimers_expired: list[HrtimerFn] = []
        self.ksoftirqd: Task | None = None
        self.lapic_timer = IrqSource(
            machine, f"cpu{cpu_id}:lapic-timer", cpu_id, self.hrtimer_interrupt, "timer"
        )
        super().__init__(machine, cpu_id)

    # -- the CPU's life (kernel/sched/core.c, kernel/sched/idle.c) -----------

    def _main(self) -> Proc:
        while self.online:
            task = self.rq.pick_next()
            if task is None:
                yield from self.do_idle()
                continue
            yield from self.__schedule(task)
            outcome = yield from task.body(self)
            self.put_prev_task(task, outcome)
        yield from self.play_dead()

    def __schedule(self, task: Task) -> Proc:
        """``__schedule``: the pick and ``context_switch``, IRQs off; then ``task`` runs."""
        self.irqs_enabled = False
        self.need_resched = False
        yield self.costs.schedule_ns + self.costs.context_switch_ns
        self.curr = task
        task.cpu = self.id
        task.state = RUNNING
        self.picked_at = self._clock.now
        self.trace.runstate_change(self.id, task.id, RUNNING)
        if self.tick_stopped:
            self.tick_nohz_restart()
        yield from self.local_irq_enable()

    def put_prev_task(self, task: Task, outcome: str) -> None:
        """The task leaves the CPU: asleep, or back in the run queue still runnable."""
        task.vruntime += self._clock.now - self.picked_at
        self.curr = None
        if outcome == BLOCKED_OUT:
            task.state = BLOCKED
            self.trace.runstate_change(self.id, task.id, BLOCKED)
            return
        task.state = RUNNABLE
        self.trace.runstate_change(self.id, task.id, RUNNABLE)
        self.rq.enqueue(task, wakeup=False)

    def do_idle(self) -> Proc:
        """``do_idle``: halt (``default_idle``: sti; hlt) until a reschedule is asked."""
        self.idle = True
        self.machine.idle_cpus[self.socket].add(self.id)
        while self.online and not self.need_resched and not len(self.rq):
            self.irqs_enabled = False
            if not self.latched:
                self.irqs_enabled = True
                self._interruptible = True
                yield Event(self.env)  # hlt: only an interrupt resumes the CPU
                self._interruptible = False
            self.irqs_enabled = True
            yield from self._take_irqs()
        self.machine.idle_cpus[self.socket].discard(self.id)
        self.idle = False

    def run_user(self, ns: int) -> Generator[Event | int, Any, int]:
        """The current user task runs ``ns``; interrupts are taken meanwhile. Returns the
        time it had left when, back from an interrupt, a reschedule was asked (0: done)."""
        remaining = ns
        while remaining > 0:
            if self.latched:
                yield from self._take_irqs()
                if self.need_resched:
                    return remaining
            start = self._clock.now
            self._interruptible = True
            value = yield remaining
            self._interruptible = False
            remaining -= self._clock.now - start
            if value is _IRQ:
                yield from self._take_irqs()
                if self.need_resched and remaining > 0:
                    return remaining
        return 0

    # -- waking tasks (kernel/sched/core.c: try_to_wake_up) -------------------

    def select_task_rq(self, task: Task) -> int:
        """``select_task_rq_fair`` on a wake-up: its CPU if it may only run there or that
        CPU idles, else an idle CPU of its socket it may run on, else its last CPU."""
        prev = task.cpu
        if len(task.cpus) == 1 or self.machine.cpus[prev].idle:
            return prev
        socket = self.machine.topology.socket_list[prev]
        for cpu in sorted(self.machine.idle_cpus[socket]):
            if cpu in task.cpus:
                return cpu
        return prev

    def try_to_wake_up(self, task: Task, elsewhere: bool = False) -> None:
        """``try_to_wake_up``: a sleeping task becomes runnable on the CPU chosen for it,
        which is asked to reschedule if the task should run first
        (``check_preempt_curr``); a remote CPU is sent a reschedule IPI. No time passes
        here: callers pay ``wakeup_ns`` where they wake. ``elsewhere``: the waker is work
        the model does not run (it is traced on this CPU): every CPU is remote to it."""
        if task.state != BLOCKED:
            return
        target = self.machine.cpus[self.select_task_rq(task)]
        task.cpu = target.id
        task.state = RUNNABLE
        self.trace.runstate_change(self.id, task.id, RUNNABLE)
        target.rq.enqueue(task, wakeup=True)
        if target.check_preempt_curr(task):
            target.resched_curr(None if elsewhere else self)

    def check_preempt_curr(self, task: Task) -> bool:
        """Whether ``task``, just queued here, should take the CPU now: always on an idle
        CPU; an RT task over a fair one; a fair task once the current one used its slice."""
        curr = self.curr
        if curr is None:
            return True
        if curr.policy == SCHED_FIFO:
            return False
        if task.policy == SCHED_FIFO:
            return True
        return self._clock.now - self.picked_at >= self.base_slice

    def resched_curr(self, waker: LinuxCpu | None) -> None:
        """``resched_curr``: set need_resched; a CPU other than the waker's (``None``: a
        waker the model does not run) gets a reschedule IPI."""
        if self.need_resched:
            return
        self.need_resched = True
        if waker is not self and self.ipi is not None:
            self.machine.send_ipi(self.id)

    def wake_up_process(self, task: Task) -> Proc:
        """``wake_up_process``: :meth:`try_to_wake_up`, paying ``wakeup_ns`` if the task
        sleeps (an awake task is left as it is at once)."""
        if task.state != BLOCKED:
            return
        yield from self.work(self.costs.wakeup_ns)
        self.try_to_wake_up(task)

    # -- hard interrupts (kernel/irq, kernel/softirq.c) ---------------------------

    def in_interrupt(self) -> bool:
        """``in_interrupt()``: in a hard IRQ, serving softirqs, or with BH disabled."""
        return bool(self.hardirq or self.softirq_count)

    def do_IRQ(self, source: IrqSource, seq: int) -> Proc:
        """``common_interrupt``: ``irq_enter_rcu``, the handler, ``irq_exit_rcu`` (which
        runs pending softirqs unless in interrupt context); IRQs off throughout but in
        the softirqs. ``IRQ_EXIT`` is traced when the handler is done, as Linux's
        ``irq_handler_exit``: softirq time is not hard-IRQ time."""
        self.trace.irq_entry(self.id, source.id, seq)
        self.hardirq += 1
        yield self.costs.irq_entry_ns
        yield from source.handler(self, seq)
        yield self.costs.irq_exit_ns
        self.hardirq -= 1
        self.trace.irq_exit(self.id, source.id, seq)
        if self.softirq_pending and not self.in_interrupt() and self.online:
            yield from self.__do_softirq()

    # -- softirqs (kernel/softirq.c) ---------------------------------------------

    def jiffies(self) -> int:
        """``jiffies``: ticks of ``1/HZ`` since boot."""
        return self._clock.now // self.costs.jiffy_ns

    def raise_softirq(self, nr: int) -> None:
        """``raise_softirq_irqoff``: set the bit; outside interrupt context nothing else
        will run it soon, so ``wakeup_softirqd``."""
        self.softirq_pending |= 1 << nr
        self.trace.softirq_raise(self.id, nr, self.id)
        if not self.in_interrupt():
            self.wakeup_softirqd()

    def do_softirq(self) -> Proc:
        """``do_softirq``: with IRQs saved off, ``__do_softirq`` if anything is pending
        and the CPU is not in interrupt context."""
        if self.in_interrupt() or not self.softirq_pending:
            return
        flags = self.local_irq_save()
        if self.softirq_pending:
            yield from self.__do_softirq()
        yield from self.local_irq_restore(flags)

    def __do_softirq(self) -> Proc:
        """``handle_softirqs``: called with IRQs off; runs every softirq pending at each
        pass with IRQs on, lowest number first; restarts while more were raised, at most
        ``MAX_SOFTIRQ_RESTART`` passes, within ``MAX_SOFTIRQ_TIME`` and while no
        reschedule is asked; then leaves the rest to ``ksoftirqd``. Returns with IRQs off."""
        end = self.jiffies() + max(1, MAX_SOFTIRQ_TIME_NS // self.costs.jiffy_ns)
        max_restart = MAX_SOFTIRQ_RESTART
        pending = self.softirq_pending
        self.softirq_count += 1  # softirq_handle_begin
        while True:
            self.softirq_pending = 0
            yield from self.local_irq_enable()
            while pending:
                nr = (pending & -pending).bit_length() - 1
                pending &= pending - 1
                yield from self.run_softirq(nr)
            self.irqs_enabled = False
            pending = self.softirq_pending
            if pending:
                max_restart -= 1
                if self.jiffies() < end and not self.need_resched and max_restart:
                    continue
                self.wakeup_softirqd()
            break
        self.softirq_count -= 1  # softirq_handle_end

    def wakeup_softirqd(self) -> None:
        """``wakeup_softirqd``: wake this CPU's ``ksoftirqd`` (a no-op if it is awake)."""
        task = self.ksoftirqd
        if task is not None:
            self.try_to_wake_up(task)

    def ksoftirqd_body(self) -> Generator[Event | int, Any, str]:
        """``smpboot_thread_fn`` running ``run_ksoftirqd``: while softirqs are pending,
        ``__do_softirq`` with IRQs off around it, then ``cond_resched``; asleep once
        none is pending."""
        while self.softirq_pending:
            self.irqs_enabled = False  # ksoftirqd_run_begin
            yield from self.__do_softirq()
            yield from self.local_irq_enable()  # ksoftirqd_run_end
            if self.need_resched:  # cond_resched
                return PREEMPTED
        return BLOCKED_OUT

    def local_bh_disable(self) -> None:
        """``local_bh_disable``: softirqs do not run on this CPU until enabled again."""
        self.softirq_count += 1

    def local_bh_enable(self) -> Proc:
        """``local_bh_enable``: outside interrupt context, run what was raised meanwhile."""
        self.softirq_count -= 1
        if self.softirq_pending and not self.in_interrupt():
            yield from self.do_softirq()

    def raise_softirq_bh(self, nr: int) -> Proc:
        """``local_bh_disable``; ``raise_softirq``; ``local_bh_enable``: a softirq raised in
        task context with BH off (``rcu_read_lock_bh`` around a loopback send's
        ``netif_rx``) runs at the enable, in the raising task's context."""
        self.local_bh_disable()
        self.raise_softirq(nr)
        yield from self.local_bh_enable()

    def spin_lock_bh(self, lock: SpinLock) -> Proc:
        """``spin_lock_bh``: BH off, then the lock (IRQs as they are)."""
        self.local_bh_disable()
        yield from self.spin_lock(lock)

    def spin_unlock_bh(self, lock: SpinLock) -> Proc:
        """``spin_unlock_bh``: the lock, then ``local_bh_enable``."""
        self.spin_unlock(lock)
        yield from self.local_bh_enable()

    # -- hrtimers and the tick (kernel/time/hrtimer.c, tick-sched.c) ---------------

    def hrtimer_start(self, delay_ns: int, fn: HrtimerFn) -> None:
        """Run ``fn(cpu)`` in this CPU's ``hrtimer_interrupt`` ``delay_ns`` from now."""

        def expire(_event: object) -> None:
            self.hrtimers_expired.append(fn)
            self.lapic_timer.raise_irq()

        self.sim.call_later(delay_ns, expire)

    def hrtimer_interrupt(self, cpu: LinuxCpu, seq: int) -> Proc:
        """``hrtimer_interrupt``: run every expired timer's function (``__run_hrtimer``);
        then what a fitted host says its timer interrupts raise
        (:attr:`LinuxHost.timer_raises`)."""
        while self.hrtimers_expired:
            fn = self.hrtimers_expired.pop(0)
            yield self.costs.timer_fn_ns
            yield from fn(self)
        for raise_on_timer in self.machine.timer_raises:
            raise_on_timer(self)

    def tick_nohz_restart(self) -> None:
        """``tick_nohz_restart_sched_tick``: the tick runs again from the next jiffy."""
        self.tick_stopped = False
        jiffy = self.costs.jiffy_ns
        self.hrtimer_start(jiffy - self._clock.now % jiffy, self.tick_sched_timer)

    def tick_sched_timer(self, cpu: LinuxCpu) -> Proc:
        """``tick_sched_timer``: ``update_process_times`` -> ``scheduler_tick``; re-armed
        for the next jiffy unless the CPU idles with nothing to run (NO_HZ_IDLE)."""
        yield self.costs.tick_ns
        curr = self.curr
        if (
            curr is not None
            and curr.policy != SCHED_FIFO
            and self.rq.nr_fair
            and self._clock.now - self.picked_at >= self.base_slice
        ):
            self.need_resched = True  # task_tick_fair: the slice is used
        if curr is None and not len(self.rq):
            self.tick_stopped = True
            return
        jiffy = self.costs.jiffy_ns
        self.hrtimer_start(jiffy - self._clock.now % jiffy, self.tick_sched_timer)
