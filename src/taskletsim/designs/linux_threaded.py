"""``linux-threaded``: the bottom half in the interrupt's thread (``request_threaded_irq``).

Read in kernel/irq/manage.c and kernel/irq/handle.c (v6.9):

- ``request_threaded_irq`` makes a kernel thread ``irq/N-name``,
  ``SCHED_FIFO`` priority 50 (``sched_set_fifo``), bound to the interrupt's
  CPU (``irq_thread_check_affinity``).
- The primary handler returns ``IRQ_WAKE_THREAD``: ``__irq_wake_thread``:
  ``test_and_set_bit(IRQTF_RUNTHREAD)``; if it was clear, ``wake_up_process``
  of the thread.
- ``irq_thread``: ``irq_wait_for_interrupt`` sleeps until
  ``test_and_clear_bit(IRQTF_RUNTHREAD)`` succeeds, then runs the threaded
  handler (``irq_thread_fn``), and again.

Here the driver's hard IRQ handler stays what it is in the other designs; what
it deferred runs as the threaded handler. An RT thread is not preempted by
fair tasks and preempts them when woken on their CPU. The line is not masked
while the thread runs: an x86 MSI is handled by ``handle_edge_irq``, which
does not mask for ``IRQF_ONESHOT`` (``handle_fasteoi_irq`` does, for level
interrupts), so the next completion's MSI may arrive meanwhile and sets
``IRQTF_RUNTHREAD`` again. ``irq_thread_ns`` (an **assumption**) is the
thread's own cost per handler run. A deferred work object is a
:class:`Tasklet` whose SCHED bit is ``IRQTF_RUNTHREAD`` and RUN bit marks the
handler running.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from simpy.events import Event

from ..kernel.seam import DESIGNS, STATE_RUN, STATE_SCHED, Proc, Tasklet
from ..linux.seam import BLOCKED_OUT, Cpu, Host, Task
from .linux_base import LinuxHostDesign


class LinuxThreadedIrq(LinuxHostDesign):
    """Each interrupt's deferred work in its own ``SCHED_FIFO`` thread."""

    name = "linux-threaded"
    description = "Linux: request_threaded_irq; the bottom half in a SCHED_FIFO irq thread"

    def __init__(self, machine: Host) -> None:
        super().__init__(machine)
        self.threads: dict[int, Task] = {}
        """The IRQ thread of each deferred work object, by its id."""

    def tasklet_init(
        self, name: str, func: Callable[[Any], Proc], is_softirq: bool = False
    ) -> Tasklet:
        """``request_threaded_irq``: the work traced as ``name`` and its thread, asleep; the
        thread is bound to the interrupt's CPU when first woken
        (``irq_thread_check_affinity``)."""
        t = super().tasklet_init(name, func, False)
        self.threads[t.id] = self.machine.create_kthread(
            f"irq/{name}", "irq-thread", (0,), lambda c: self.irq_thread(c, t), rt=True
        )
        return t

    def _thread(self, cpu: Cpu, t: Tasklet) -> Task:
        """The thread of ``t``, bound to the CPU that wakes it (the interrupt's)."""
        thread = self.threads[t.id]
        if thread.cpus != (cpu.id,):
            thread.cpus = (cpu.id,)
            thread.cpu = cpu.id
        return thread

    def tasklet_schedule(self, cpu: Cpu, t: Tasklet, cause: int = -1) -> Proc:
        """``__irq_wake_thread``: set ``IRQTF_RUNTHREAD``; if newly set, wake the thread."""
        yield from self.atomic(cpu, t)
        was = t.state
        t.state |= STATE_SCHED
        self._trace.tasklet_schedule(cpu.id, t.id, cause)
        if not was & STATE_SCHED:
            yield from cpu.wake_up_process(self._thread(cpu, t))

    def irq_thread(self, cpu: Cpu, t: Tasklet) -> Generator[Event | int, Any, str]:
        """``irq_thread``: while ``IRQTF_RUNTHREAD`` was set, clear it and run the threaded
        handler; then sleep (``irq_wait_for_interrupt``)."""
        while t.state & STATE_SCHED:
            yield from self.atomic(cpu, t)  # test_and_clear_bit(IRQTF_RUNTHREAD)
            t.state = (t.state & ~STATE_SCHED) | STATE_RUN
            self._trace.tasklet_entry(cpu.id, t.id)
            yield from cpu.work(cpu.costs.irq_thread_ns)
            yield from t.func(cpu)
            self._trace.tasklet_exit(cpu.id, t.id)
            t.state &= ~STATE_RUN
        return BLOCKED_OUT


DESIGNS.register(LinuxThreadedIrq)
