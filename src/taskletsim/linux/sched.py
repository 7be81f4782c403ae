"""Tasks and the per-CPU run queue (kernel/sched/core.c, fair.c, rt.c at v6.9).

A :class:`Task` is what the scheduler runs: a user task (busy, or sleeping
between bursts), ``ksoftirqd/N``, or an IRQ thread. Its ``body(cpu)`` is the
code it runs once picked, until it sleeps (:data:`BLOCKED`) or gives the CPU
back while still runnable (:data:`PREEMPTED`).

The run queue is Linux's two classes that matter here: ``SCHED_FIFO`` (IRQ
threads, priority 50: ``irq_thread`` sets it) before the fair class
(``SCHED_NORMAL``: user tasks and ``ksoftirqd``). The fair class is modelled
on EEVDF's behaviour with its defaults (``RUN_TO_PARITY``): among equally
weighted tasks it runs the one that has had the least service (the lowest
``vruntime``), and a task keeps the CPU for its slice
(``sysctl_sched_base_slice``) before a woken or waiting fair task may take
it: ``check_preempt_wakeup_fair`` and the tick's ``update_curr`` ask for a
reschedule only once the current task's slice is used. **Assumptions**: all
tasks have nice 0; a woken task is placed at the queue's ``min_vruntime``
(zero lag); the run queue's lock and load balancing between CPUs are not
modelled (a task that may migrate is placed when it wakes, by
:meth:`~taskletsim.linux.cpu.LinuxCpu.select_task_rq`).

Each task's state is traced as a ``RUNSTATE_CHANGE`` (subject: the task, in
the ``vcpu`` name space, so that every runstate metric reads tasks as it reads
vCPUs): :data:`RUNNING` on a CPU, :data:`RUNNABLE` waiting in a run queue
(Linux's ``run_delay``, ``/proc/<pid>/schedstat``), :data:`BLOCKED` asleep.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from simpy.events import Event

if TYPE_CHECKING:
    from .cpu import LinuxCpu

RUNNING, RUNNABLE, BLOCKED = 0, 1, 2
"""A task's traced states (Xen's runstate numbers: the metrics read both alike)."""

BLOCKED_OUT = "blocked"
PREEMPTED = "preempted"
"""What a task's body returns: it went to sleep, or it gives the CPU back runnable."""

SCHED_NORMAL, SCHED_FIFO = "normal", "fifo"

TaskBody = Callable[["LinuxCpu"], Generator[Event | int, Any, str]]


class Task:
    """``struct task_struct``, as far as the scheduler and the accounting need it.

    ``cpus`` is the affinity (``cpus_ptr``); ``cpu`` the CPU it runs or last
    ran on; ``vruntime`` its fair-class service; ``state`` the traced state.
    ``kind`` is what the metrics group it by (``busy``, ``sleeper``,
    ``ksoftirqd``, ``irq-thread``).
    """

    __slots__ = (
        "body",
        "cpu",
        "cpus",
        "id",
        "kind",
        "name",
        "on_rq",
        "policy",
        "remaining_ns",
        "state",
        "vruntime",
    )

    def __init__(
        self,
        tid: int,
        name: str,
        kind: str,
        body: TaskBody,
        cpus: tuple[int, ...],
        policy: str = SCHED_NORMAL,
    ) -> None:
        self.id = tid
        self.name = name
        self.kind = kind
        self.body = body
        self.cpus = cpus
        self.cpu = cpus[0]
        self.policy = policy
        self.vruntime = 0
        self.state = BLOCKED
        self.on_rq = False
        self.remaining_ns = 0
        """A user task's work left in its current burst."""

    def __repr__(self) -> str:
        return f"<Task {self.name}>"


class RunQueue:
    """``struct rq`` of one CPU: its FIFO (RT) tasks in arrival order, its fair tasks
    by ``vruntime`` (ties in arrival order), and ``min_vruntime``."""

    __slots__ = ("_fair", "_order", "_rt", "min_vruntime", "nr_fair")

    def __init__(self) -> None:
        self._rt: deque[Task] = deque()
        self._fair: list[tuple[int, int, Task]] = []
        self._order = 0
        self.min_vruntime = 0
        self.nr_fair = 0

    def __len__(self) -> int:
        return len(self._rt) + self.nr_fair

    def enqueue(self, task: Task, wakeup: bool) -> None:
        """``enqueue_task``: a woken fair task is placed at ``min_vruntime`` if behind it."""
        task.on_rq = True
        if task.policy == SCHED_FIFO:
            self._rt.append(task)
            return
        if wakeup and task.vruntime < self.min_vruntime:
            task.vruntime = self.min_vruntime
        self._order += 1
        heapq.heappush(self._fair, (task.vruntime, self._order, task))
        self.nr_fair += 1

    def pick_next(self) -> Task | None:
        """``pick_next_task``: the first FIFO task, else the fair task with least service."""
        if self._rt:
            task = self._rt.popleft()
        elif self._fair:
            task = heapq.heappop(self._fair)[2]
            self.nr_fair -= 1
            self.min_vruntime = max(self.min_vruntime, task.vruntime)
        else:
            return None
        task.on_rq = False
        return task
