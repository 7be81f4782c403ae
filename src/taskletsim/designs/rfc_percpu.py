"""``rfc-percpu``: the seed's lockless per-CPU tasklets (RFC v1 1/5, Aug 2014, never merged).

Mirrors the patch line by line (xen-devel, August 2014, "[RFC PATCH v1 1/5]
tasklet: Introduce per-cpu tasklet for softirq", and its review; docs/sources.md):

- ``tasklet_schedule_on_cpu``: ``test_and_set_bit(TASKLET_STATE_SCHED)``; if
  it was clear, ``tasklet_enqueue``: with IRQs off (``local_irq_save``),
  ``list_add_tail`` to this CPU's ``softirq_list`` and
  ``raise_softirq(TASKLET_SOFTIRQ_PERCPU)``. Already scheduled: one atomic.
- ``do_tasklet_work_percpu``: IRQs off, take **one** tasklet off the head
  (``poke`` if more are queued), IRQs on; ``tasklet_trylock`` (set RUN): clear
  SCHED, run, clear RUN, re-raise if ``poke``. RUN already set (running on
  another CPU): put it back at the tail with IRQs off and re-raise: this can
  spin until the other CPU finishes.
- ``tasklet_kill``: set SCHED, spinning on ``process_pending_softirqs`` while
  it is set; wait for RUN to clear; mark dead.
- CPU_DEAD: ``migrate_tasklets_from_cpu`` of the dead CPU's list, which in
  the patch takes the global ``tasklet_lock``.

Options, for the review's (Andrew Cooper) suggestions: ``raise_after_irq_enable``
moves ``raise_softirq`` after ``local_irq_restore``; ``short_irq_window``
computes the per-CPU list pointer (``__get_cpu_var``, which inspects the
stack pointer) before disabling IRQs. Both keep the work and shorten the
IRQ-off window.

Cross-CPU scheduling is in the series' patch 2/5, "tasklet: Add cross CPU
feeding of per-cpu tasklets" (github.com/konradwilk/xen, branch
``percpu_tasklet.v4.8.v2``, commit bf0a376201): ``tasklet_enqueue`` for
another CPU takes one global ``feeder_lock`` (irqsave), appends to the
target's ``tasklet_feeder`` list, unlocks, and calls
``on_selected_cpus(cpumask_of(cpu), percpu_tasklet_feed, NULL, 1)``: a
synchronous cross-CPU call, under Xen's global ``call_lock``, spinning until
the target has run ``percpu_tasklet_feed`` in its IPI handler, which moves
its feeder list to its ``softirq_list`` under ``feeder_lock`` and raises the
softirq (``feeding=patch``, the default). ``feeding=per-target`` is an
earlier assumption of this model, kept as an option: a per-target feeder
lock and list, a ``cpu_raise_softirq`` (an IPI), the target splicing its
feeder list in at the start of its softirq action.
"""

from __future__ import annotations

from ..core.config import Param, ns_param
from ..hv.seam import Cpu, Host
from ..platform.locks import SpinLock
from .base import (
    STATE_RUN,
    STATE_SCHED,
    Proc,
    SoftirqHandler,
    Tasklet,
    TaskletDesign,
    register_design,
)


@register_design
class RfcPercpu(TaskletDesign):
    """Per-CPU lists touched with IRQs off, SCHED/RUN bits, one tasklet per pass."""

    name = "rfc-percpu"
    description = "the seed's RFC: lockless per-CPU tasklets, one per pass, trylock + poke"
    softirqs = (("TASKLET_SOFTIRQ_PERCPU", "TASKLET_SOFTIRQ"),)
    default_lock = "ttas"
    options = (
        Param(
            "raise_after_irq_enable",
            "choice",
            "off",
            "rfc-percpu: raise the softirq after IRQs are re-enabled (review)",
            choices=("off", "on"),
        ),
        Param(
            "short_irq_window",
            "choice",
            "off",
            "rfc-percpu: look up the per-CPU list before disabling IRQs (review)",
            choices=("off", "on"),
        ),
        ns_param("this_cpu_ns", 10, "rfc-percpu: __get_cpu_var cost"),
        Param(
            "feeding",
            "choice",
            "patch",
            "rfc-percpu: cross-CPU scheduling as in the series' patch 2/5 (global feeder_lock, "
            "synchronous on_selected_cpus) or per-target (feeder lock per CPU, an IPI)",
            choices=("patch", "per-target"),
        ),
        ns_param("raise_ns", 20, "rfc-percpu: raise_softirq (a locked set_bit)"),
    )

    def __init__(self, machine: Host) -> None:
        super().__init__(machine)
        ncpus = machine.topology.ncpus
        self.softirq_list: list[list[Tasklet]] = [[] for _ in range(ncpus)]
        self.feeder: list[list[Tasklet]] = [[] for _ in range(ncpus)]
        self._feeder_lock: dict[int, SpinLock] = {}
        self.tasklet_lock = machine.make_lock("tasklet_lock")
        self.PERCPU = machine.softirq_nr["TASKLET_SOFTIRQ_PERCPU"]
        self._list_ns = machine.costs.tasklet_list_ns
        self._raise_after = self.option["raise_after_irq_enable"] == "on"
        self._short = self.option["short_irq_window"] == "on"
        self._this_cpu_ns = int(self.option["this_cpu_ns"])
        self._raise_ns = int(self.option["raise_ns"])
        self._per_target = self.option["feeding"] == "per-target"

    def softirq_handlers(self) -> dict[str, SoftirqHandler]:
        return {"TASKLET_SOFTIRQ_PERCPU": self.tasklet_softirq_percpu_action}

    def feeder_lock(self, cpu: int) -> SpinLock:
        """The feeder lock guarding CPU ``cpu``'s feeder list (made on first use): the
        one global ``feeder_lock`` of patch 2/5, or a lock per CPU (``per-target``)."""
        key = cpu if self._per_target else -1
        if key not in self._feeder_lock:
            name = f"tasklet_feeder_lock{cpu}" if self._per_target else "feeder_lock"
            self._feeder_lock[key] = self.machine.make_lock(name)
        return self._feeder_lock[key]

    def tasklet_schedule_on_cpu(self, cpu: Cpu, t: Tasklet, target: int, cause: int = -1) -> Proc:
        """``tasklet_schedule_on_cpu``, ``is_percpu`` branch."""
        if t.is_dead:
            return
        yield from self.atomic(cpu, t)  # test_and_set_bit(TASKLET_STATE_SCHED)
        was = t.state
        t.state |= STATE_SCHED
        self.traced_schedule(cpu, t, cause)
        if not was & STATE_SCHED:
            t.scheduled_on = target
            yield from self.tasklet_enqueue(cpu, t)

    def tasklet_enqueue(self, cpu: Cpu, t: Tasklet) -> Proc:
        """``tasklet_enqueue``, ``is_percpu`` branch (and the cross-CPU feeder)."""
        target = t.scheduled_on
        if target != cpu.id:
            lock = self.feeder_lock(target)
            flags = yield from cpu.spin_lock_irqsave(lock)
            yield from cpu.work(self._list_ns)
            self.feeder[target].append(t)
            if self._per_target:
                yield from cpu.cpu_raise_softirq(target, self.PERCPU)
            yield from cpu.spin_unlock_irqrestore(lock, flags)
            if not self._per_target:
                yield from cpu.on_selected_cpus(target, self.percpu_tasklet_feed, wait=True)
            return
        if self._short:
            yield from cpu.work(self._this_cpu_ns)
        flags = cpu.local_irq_save()
        if not self._short:
            yield from cpu.work(self._this_cpu_ns)
        yield from cpu.work(self._list_ns)
        self.softirq_list[cpu.id].append(t)
        if not self._raise_after:
            yield from self._raise(cpu)
        yield from cpu.local_irq_restore(flags)
        if self._raise_after:
            yield from self._raise(cpu)

    def _raise(self, cpu: Cpu) -> Proc:
        yield from cpu.work(self._raise_ns)
        cpu.raise_softirq(self.PERCPU)

    def percpu_tasklet_feed(self, cpu: Cpu) -> Proc:
        """``percpu_tasklet_feed`` (patch 2/5), in the target's call-function IPI handler:
        under ``feeder_lock``, move its feeder list to its ``softirq_list``, raise."""
        lock = self.feeder_lock(cpu.id)
        flags = yield from cpu.spin_lock_irqsave(lock)
        if self.feeder[cpu.id]:
            yield from cpu.work(self._list_ns)
            self.softirq_list[cpu.id].extend(self.feeder[cpu.id])
            self.feeder[cpu.id].clear()
            cpu.raise_softirq(self.PERCPU)
        yield from cpu.spin_unlock_irqrestore(lock, flags)

    def tasklet_softirq_percpu_action(self, cpu: Cpu) -> Proc:
        """``tasklet_softirq_percpu_action`` -> ``do_tasklet_work_percpu`` (with
        ``feeding=per-target``, first splice this CPU's feeder list in)."""
        if self._per_target and self.feeder[cpu.id]:
            yield from self._take_feeder(cpu)
        yield from self.do_tasklet_work_percpu(cpu)

    def _take_feeder(self, cpu: Cpu) -> Proc:
        lock = self.feeder_lock(cpu.id)
        flags = yield from cpu.spin_lock_irqsave(lock)
        yield from cpu.work(self._list_ns)
        self.softirq_list[cpu.id].extend(self.feeder[cpu.id])
        self.feeder[cpu.id].clear()
        yield from cpu.spin_unlock_irqrestore(lock, flags)

    def do_tasklet_work_percpu(self, cpu: Cpu) -> Proc:
        """One tasklet off the head; trylock; run it or put it back and re-raise."""
        queue = self.softirq_list[cpu.id]
        if self._short:
            yield from cpu.work(self._this_cpu_ns)
        cpu.local_irq_disable()
        yield from cpu.work(self._list_ns if self._short else self._this_cpu_ns + self._list_ns)
        t = queue.pop(0) if queue else None
        poke = bool(queue)
        yield from cpu.local_irq_enable()
        if t is None:
            return
        yield from self.atomic(cpu, t)  # tasklet_trylock: test_and_set_bit(RUN)
        if not t.state & STATE_RUN:
            t.state |= STATE_RUN
            self.traced_claim(cpu, t)
            if not t.state & STATE_SCHED:
                raise RuntimeError(f"BUG: {t} runs without TASKLET_STATE_SCHED")
            yield from self.atomic(cpu, t)  # test_and_clear_bit(TASKLET_STATE_SCHED)
            t.state &= ~STATE_SCHED
            yield from self.run_tasklet(cpu, t)
            t.state &= ~STATE_RUN  # tasklet_unlock
            if poke:
                yield from self._raise(cpu)
            return
        cpu.local_irq_disable()
        yield from cpu.work(self._this_cpu_ns + self._list_ns)
        queue.append(t)
        yield from self._raise(cpu)
        yield from cpu.local_irq_enable()

    def tasklet_kill(self, cpu: Cpu, t: Tasklet) -> Proc:
        """``tasklet_kill``, ``is_percpu`` branch."""
        yield from self.kill_by_state_bits(cpu, t)

    def migrate_tasklets_from_cpu(self, cpu: Cpu, dead: int) -> Proc:
        """``migrate_tasklets_from_cpu`` of the dead CPU's list, under ``tasklet_lock``."""
        flags = yield from cpu.spin_lock_irqsave(self.tasklet_lock)
        moved = [*self.softirq_list[dead], *self.feeder[dead]]
        self.softirq_list[dead].clear()
        self.feeder[dead].clear()
        for t in moved:
            if t.scheduled_on != dead:
                raise RuntimeError(f"BUG: {t} on CPU {dead}'s list, scheduled_on {t.scheduled_on}")
            t.scheduled_on = cpu.id
            yield from self.tasklet_enqueue(cpu, t)
        yield from cpu.spin_unlock_irqrestore(self.tasklet_lock, flags)
