"""``xen-4.4-global``: Xen 4.4/4.5 tasklets under one global lock.

Mirrors xen/common/tasklet.c at RELEASE-4.4.0 (docs/model.md): one
``tasklet_lock`` protects every per-CPU list and every tasklet's fields;
``tasklet_softirq_action`` runs **one** tasklet per softirq pass and
re-raises while its list is non-empty; a schedule-and-run cycle takes the
lock three times (schedule, pop, clear ``is_running``).
"""

from __future__ import annotations

from ..hv.seam import Cpu, Host
from .base import Proc, SoftirqHandler, Tasklet, TaskletDesign, TaskletFunc, register_design


@register_design
class Xen44Global(TaskletDesign):
    """One global ``tasklet_lock`` (the lock kind is the scenario's ``lock``)."""

    name = "xen-4.4-global"
    description = "Xen 4.4/4.5: one global tasklet_lock, one tasklet per softirq pass"

    def __init__(self, machine: Host) -> None:
        super().__init__(machine)
        self.tasklet_lock = machine.make_lock("tasklet_lock")
        self.softirq_tasklet_list: list[dict[Tasklet, None]] = [
            {} for _ in range(machine.topology.ncpus)
        ]
        self.TASKLET_SOFTIRQ = machine.softirq_nr["TASKLET_SOFTIRQ"]
        self._list_ns = machine.costs.tasklet_list_ns

    def softirq_handlers(self) -> dict[str, SoftirqHandler]:
        return {"TASKLET_SOFTIRQ": self.tasklet_softirq_action}

    def tasklet_init(self, name: str, func: TaskletFunc, is_softirq: bool = True) -> Tasklet:
        """A tasklet on the global lists: recorded as guarded by ``tasklet_lock``."""
        t = super().tasklet_init(name, func, is_softirq)
        self.sim.trace.meta.tasklet_locks[name] = self.tasklet_lock.name
        return t

    def _list_del(self, t: Tasklet) -> None:
        if t.list_cpu >= 0:
            del self.softirq_tasklet_list[t.list_cpu][t]
            t.list_cpu = -1

    def tasklet_enqueue(self, cpu: Cpu, t: Tasklet) -> Proc:
        """``tasklet_enqueue``: append to ``scheduled_on``'s list; raise if it was empty."""
        target = t.scheduled_on
        queue = self.softirq_tasklet_list[target]
        was_empty = not queue
        queue[t] = None
        t.list_cpu = target
        if was_empty:
            yield from cpu.cpu_raise_softirq(target, self.TASKLET_SOFTIRQ)

    def tasklet_schedule_on_cpu(self, cpu: Cpu, t: Tasklet, target: int, cause: int = -1) -> Proc:
        """``tasklet_schedule_on_cpu``: under the lock (irqsave), set ``scheduled_on``;
        unless running, move it to the tail of the target's list."""
        flags = yield from cpu.spin_lock_irqsave(self.tasklet_lock)
        if not t.is_dead:
            t.scheduled_on = target
            yield from cpu.work(self._list_ns)
            if not t.is_running:
                self._list_del(t)
                yield from self.tasklet_enqueue(cpu, t)
            self.traced_schedule(cpu, t, cause)
        yield from cpu.spin_unlock_irqrestore(self.tasklet_lock, flags)

    def tasklet_softirq_action(self, cpu: Cpu) -> Proc:
        """``tasklet_softirq_action``: lock (irq), one tasklet, re-raise if more, unlock."""
        queue = self.softirq_tasklet_list[cpu.id]
        yield from cpu.spin_lock_irq(self.tasklet_lock)
        yield from self.do_tasklet_work(cpu, queue)
        if queue and cpu.online:
            cpu.raise_softirq(self.TASKLET_SOFTIRQ)
        yield from cpu.spin_unlock_irq(self.tasklet_lock)

    def do_tasklet_work(self, cpu: Cpu, queue: dict[Tasklet, None]) -> Proc:
        """``do_tasklet_work``: pop the head, unlock, run it, lock, re-enqueue if re-scheduled."""
        if not queue or not cpu.online:
            return
        t = next(iter(queue))
        self._list_del(t)
        if t.is_dead or t.is_running or t.scheduled_on != cpu.id:
            raise RuntimeError(f"BUG: {t} popped on CPU {cpu.id} in a bad state")
        t.scheduled_on = -1
        t.is_running = True
        self.traced_claim(cpu, t)
        yield from cpu.work(self._list_ns)
        yield from cpu.spin_unlock_irq(self.tasklet_lock)
        yield from self.run_tasklet(cpu, t)
        yield from cpu.spin_lock_irq(self.tasklet_lock)
        t.is_running = False
        yield from cpu.work(self._list_ns)
        if t.scheduled_on >= 0:
            yield from self.tasklet_enqueue(cpu, t)

    def tasklet_kill(self, cpu: Cpu, t: Tasklet) -> Proc:
        """``tasklet_kill``: unqueue, mark dead, drop and retake the lock while it runs."""
        flags = yield from cpu.spin_lock_irqsave(self.tasklet_lock)
        self._list_del(t)
        t.scheduled_on = -1
        t.is_dead = True
        while t.is_running:
            yield from cpu.spin_unlock_irqrestore(self.tasklet_lock, flags)
            yield from cpu.work(self._list_ns)  # cpu_relax()
            flags = yield from cpu.spin_lock_irqsave(self.tasklet_lock)
        yield from cpu.spin_unlock_irqrestore(self.tasklet_lock, flags)

    def migrate_tasklets_from_cpu(self, cpu: Cpu, dead: int) -> Proc:
        """``migrate_tasklets_from_cpu``: under the lock, re-enqueue each on this CPU."""
        flags = yield from cpu.spin_lock_irqsave(self.tasklet_lock)
        queue = self.softirq_tasklet_list[dead]
        while queue:
            t = next(iter(queue))
            if t.scheduled_on != dead:
                raise RuntimeError(
                    f"BUG: {t} on CPU {dead}'s list is scheduled on {t.scheduled_on}"
                )
            t.scheduled_on = cpu.id
            yield from cpu.work(self._list_ns)
            self._list_del(t)
            yield from self.tasklet_enqueue(cpu, t)
        yield from cpu.spin_unlock_irqrestore(self.tasklet_lock, flags)
