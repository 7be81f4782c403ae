"""``linux``: Linux tasklets and its softirq engine (kernel/softirq.c) in the hypervisor.

The RFC was modelled on this code (Linux ``kernel/softirq.c``, docs/sources.md):

- ``tasklet_schedule``: ``test_and_set_bit(TASKLET_STATE_SCHED)``; if newly set,
  ``__tasklet_schedule``: IRQs off, append to this CPU's ``tasklet_vec``,
  ``raise_softirq_irqoff(TASKLET_SOFTIRQ)``.
- ``tasklet_action``: IRQs off, **detach the whole list**, IRQs on; for each,
  ``tasklet_trylock`` (RUN): clear SCHED, run, unlock; on failure put it back
  and re-raise.
- ``__do_softirq``: run every pending softirq of a snapshot of the mask,
  restart while more were raised, at most ``MAX_SOFTIRQ_RESTART`` = 10 times
  or ``MAX_SOFTIRQ_TIME`` = 2 ms; then ``wakeup_softirqd``: the rest waits for
  ksoftirqd, a thread of lower priority than the guest. The model runs
  ksoftirqd when the CPU next goes idle, or ``ksoftirqd_delay_ns`` later (a
  scheduler tick lets it preempt the vCPU; the delay is an assumption).

Linux has no ``tasklet_schedule_on_cpu``: scheduling one on another CPU is
done by an IPI whose handler schedules it there (``smp_call_function_single``).
CPU_DEAD: ``takeover_tasklets`` appends the dead CPU's list to this CPU's.
Linux spinlocks are queued (MCS): this design's default lock.

The same class runs on the bare-metal Linux host (:mod:`taskletsim.linux`),
where softirqs are the host's own (``irq_exit``, ``local_bh_enable``,
``ksoftirqd``): there :meth:`LinuxTasklets.do_softirq` and
``ksoftirqd_delay_ns`` are not used.
"""

from __future__ import annotations

from ..core.config import ns_param
from ..hv.seam import Cpu, Host
from .base import (
    STATE_RUN,
    STATE_SCHED,
    Proc,
    SoftirqHandler,
    Tasklet,
    TaskletDesign,
    register_design,
)

MAX_SOFTIRQ_RESTART = 10
MAX_SOFTIRQ_TIME_NS = 2_000_000


@register_design
class LinuxTasklets(TaskletDesign):
    """Per-CPU ``tasklet_vec`` detached as a batch; Linux's ``__do_softirq`` and ksoftirqd."""

    name = "linux"
    hosts = ("xen", "linux")
    description = "Linux: per-CPU tasklet_vec run as a batch; __do_softirq limits + ksoftirqd"
    default_lock = "mcs"
    options = (
        ns_param(
            "ksoftirqd_delay_ns",
            1_000_000,
            "linux: time before ksoftirqd preempts a busy vCPU",
        ),
    )

    def __init__(self, machine: Host) -> None:
        super().__init__(machine)
        ncpus = machine.topology.ncpus
        self.tasklet_vec: list[list[Tasklet]] = [[] for _ in range(ncpus)]
        self.TASKLET_SOFTIRQ = machine.softirq_nr["TASKLET_SOFTIRQ"]
        self._list_ns = machine.costs.tasklet_list_ns
        self._delay = int(self.option["ksoftirqd_delay_ns"])
        self.ksoftirqd_woken: list[int | None] = [None] * ncpus

    def softirq_handlers(self) -> dict[str, SoftirqHandler]:
        return {"TASKLET_SOFTIRQ": self.tasklet_action}

    def tasklet_schedule_on_cpu(self, cpu: Cpu, t: Tasklet, target: int, cause: int = -1) -> Proc:
        """``tasklet_schedule`` on ``target``: here, or from an IPI handler there."""
        if t.is_dead:
            return
        if target != cpu.id:
            other = self.machine.cpus[target]
            other.call_function(lambda c: self.tasklet_schedule_on_cpu(c, t, target, cause))
            yield from cpu.work(cpu.costs.ipi_send_ns)
            return
        yield from self.atomic(cpu, t)  # test_and_set_bit(TASKLET_STATE_SCHED)
        was = t.state
        t.state |= STATE_SCHED
        self.traced_schedule(cpu, t, cause)
        if not was & STATE_SCHED:
            yield from self.__tasklet_schedule(cpu, t)

    def __tasklet_schedule(self, cpu: Cpu, t: Tasklet) -> Proc:
        """``__tasklet_schedule``: append with IRQs off, ``raise_softirq_irqoff``."""
        flags = cpu.local_irq_save()
        yield from cpu.work(self._list_ns)
        self.tasklet_vec[cpu.id].append(t)
        t.scheduled_on = cpu.id
        cpu.raise_softirq(self.TASKLET_SOFTIRQ)
        yield from cpu.local_irq_restore(flags)

    def tasklet_action(self, cpu: Cpu) -> Proc:
        """``tasklet_action``: detach the list; trylock each; run it or put it back."""
        cpu.local_irq_disable()
        yield from cpu.work(self._list_ns)
        batch = self.tasklet_vec[cpu.id]
        self.tasklet_vec[cpu.id] = []
        yield from cpu.local_irq_enable()
        while batch:
            t = batch.pop(0)
            yield from self.atomic(cpu, t)  # tasklet_trylock
            if not t.state & STATE_RUN:
                t.state |= STATE_RUN
                self.traced_claim(cpu, t)
                if not t.state & STATE_SCHED:
                    raise RuntimeError(f"BUG: {t} runs without TASKLET_STATE_SCHED")
                t.state &= ~STATE_SCHED
                yield from self.run_tasklet(cpu, t)
                t.state &= ~STATE_RUN  # tasklet_unlock
                continue
            cpu.local_irq_disable()
            yield from cpu.work(self._list_ns)
            self.tasklet_vec[cpu.id].append(t)
            cpu.raise_softirq(self.TASKLET_SOFTIRQ)
            yield from cpu.local_irq_enable()

    def softirqs_deferred(self, cpu: Cpu) -> bool:
        """Pending softirqs wait while ksoftirqd is woken and has not got the CPU yet."""
        woken = self.ksoftirqd_woken[cpu.id]
        return woken is not None and self._clock.now - woken < self._delay

    def do_softirq(self, cpu: Cpu) -> Proc:
        """``__do_softirq`` (or ksoftirqd's ``run_ksoftirqd`` once it has the CPU)."""
        if self.ksoftirqd_woken[cpu.id] is not None:
            if self.softirqs_deferred(cpu) and not cpu.current.is_idle:
                return
            self.ksoftirqd_woken[cpu.id] = None
        start = self._clock.now
        restart = MAX_SOFTIRQ_RESTART
        while cpu.online and not cpu.switched:
            pending = cpu.softirq_pending
            if not pending:
                return
            cpu.softirq_pending = 0
            while pending and not cpu.switched:
                nr = (pending & -pending).bit_length() - 1
                pending &= pending - 1
                yield from cpu.run_softirq(nr)
            cpu.softirq_pending |= pending  # not run because of a context switch
            restart -= 1
            if cpu.softirq_pending and (
                restart == 0 or self._clock.now - start >= MAX_SOFTIRQ_TIME_NS
            ):
                self.wakeup_softirqd(cpu)
                return

    def wakeup_softirqd(self, cpu: Cpu) -> None:
        """``wakeup_softirqd``: the rest waits for ksoftirqd; a tick lets it preempt."""
        self.ksoftirqd_woken[cpu.id] = self._clock.now
        ipi = cpu.ipi
        if ipi is not None:
            self.sim.call_later(self._delay, lambda _e: ipi.raise_irq())

    def tasklet_kill(self, cpu: Cpu, t: Tasklet) -> Proc:
        """``tasklet_kill``: take SCHED (yielding while it is set), wait out RUN."""
        yield from self.kill_by_state_bits(cpu, t)

    def migrate_tasklets_from_cpu(self, cpu: Cpu, dead: int) -> Proc:
        """``takeover_tasklets``: the dead CPU's list onto this one's, IRQs off, raise."""
        flags = cpu.local_irq_save()
        yield from cpu.work(self._list_ns)
        moved = self.tasklet_vec[dead]
        self.tasklet_vec[dead] = []
        for t in moved:
            t.scheduled_on = cpu.id
        self.tasklet_vec[cpu.id].extend(moved)
        if moved:
            cpu.raise_softirq(self.TASKLET_SOFTIRQ)
        yield from cpu.local_irq_restore(flags)
