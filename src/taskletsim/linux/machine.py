"""A bare-metal Linux host: topology, CPUs with their run queues and ``ksoftirqd``, the
tasklet design, tasks and device interrupts.

Build one, add tasks and devices, then run its simulation::

    sim = Simulation(seed=1)
    host = LinuxHost(sim, Topology(2, 4), design="linux")
    host.add_busy_task("hog0", (0,))
    host.add_device("dma0", cpu=1, handler=my_irq_handler)
    sim.run(100_000_000)
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, cast

from simpy.events import Event

from ..core.config import ConfigError
from ..core.sim import DrawStream, Simulation
from ..core.trace import VcpuInfo
from ..kernel.host import Kernel
from ..kernel.irq import Handler, IrqSource
from ..kernel.seam import design_for_host
from ..kernel.softirq import softirq_table
from ..platform.topology import Topology
from .costs import LinuxCosts
from .cpu import LinuxCpu
from .sched import (
    BLOCKED,
    BLOCKED_OUT,
    PREEMPTED,
    RUNNABLE,
    SCHED_FIFO,
    SCHED_NORMAL,
    Task,
    TaskBody,
)
from .seam import LinuxDesignHooks, Proc

__all__ = ["LINUX_SOFTIRQS", "LinuxHost", "linux_design"]

LINUX_SOFTIRQS = (
    "HI_SOFTIRQ",
    "TIMER_SOFTIRQ",
    "NET_TX_SOFTIRQ",
    "NET_RX_SOFTIRQ",
    "BLOCK_SOFTIRQ",
    "IRQ_POLL_SOFTIRQ",
    "TASKLET_SOFTIRQ",
    "SCHED_SOFTIRQ",
    "HRTIMER_SOFTIRQ",
    "RCU_SOFTIRQ",
)
"""Linux's softirqs in number order (include/linux/interrupt.h)."""

BUSY_BURST_NS = 1_000_000_000
"""A busy task's work is handed out in bursts this long (it never sleeps)."""

REMOTE_WAKE_RETRY_NS = 100
"""Assumption: a waker that finds its task still switching out looks again this much later
(``try_to_wake_up`` spins on ``p->on_cpu``)."""


def linux_design(name: str) -> type[LinuxDesignHooks]:
    """The design registered as ``name``, which must run on the Linux host."""
    return cast(type[LinuxDesignHooks], design_for_host(name, "linux"))


def _nothing(cpu: LinuxCpu) -> Proc:
    """A softirq with no work in the model."""
    return
    yield


def ipi_interrupt(cpu: LinuxCpu, seq: int) -> Proc:
    """The reschedule and call-function IPIs (``sysvec_reschedule_ipi``,
    ``sysvec_call_function_single``: one source stands for both): run the queued
    calls; a reschedule asked meanwhile is acted on where the interrupt returns."""
    while cpu.ipi_calls:
        yield from cpu.ipi_calls.pop(0)(cpu)


class LinuxHost(Kernel[LinuxCpu, LinuxCosts]):
    """The host. ``lock`` (default: the design's), ``numa_bias`` and ``spinner_share``
    set every spinlock's model; ``design_options`` go to the design."""

    def __init__(
        self,
        sim: Simulation,
        topology: Topology,
        design: str = "linux",
        costs: LinuxCosts | None = None,
        lock: str | None = None,
        numa_bias: float = 1.0,
        spinner_share: float = 0.5,
        design_options: dict[str, object] | None = None,
    ) -> None:
        design_cls = linux_design(design)
        super().__init__(
            sim,
            topology,
            costs or LinuxCosts(),
            softirq_table(LINUX_SOFTIRQS, design_cls.softirqs),
            lock or design_cls.default_lock,
            {"numa_bias": numa_bias, "spinner_share": spinner_share},
        )
        self.design_options = dict(design_options or {})
        sim.trace.meta.design = design_cls.name
        sim.trace.meta.extra["host"] = "linux"
        self.idle_cpus: list[set[int]] = [set() for _ in range(topology.sockets)]
        """Per socket, the CPUs idling now (``select_idle_sibling`` looks there)."""
        self.tasks: list[Task] = []
        for c in range(topology.ncpus):
            cpu = LinuxCpu(self, c)
            cpu.ipi = IrqSource(self, f"ipi:cpu{c}", c, ipi_interrupt, "ipi")
            self.cpus.append(cpu)
        for cpu in self.cpus:
            cpu.ksoftirqd = self.create_kthread(
                f"ksoftirqd/{cpu.id}", "ksoftirqd", (cpu.id,), _ksoftirqd_body, rt=False
            )
        self.design: LinuxDesignHooks = design_cls(self)
        handlers: list[Callable[[LinuxCpu], Proc]] = [_nothing] * len(self.softirq_names)
        for name, action in self.design.softirq_handlers().items():
            handlers[self.softirq_nr[name]] = action
        self.softirq_handlers = handlers
        self.timer_raises: list[Callable[[LinuxCpu], None]] = []
        """What each local timer interrupt raises besides the model's own timers (a fitted
        host's softirqs: ``SCHED``, ``RCU``, ``TIMER`` raised from the tick)."""

    # -- tasks --------------------------------------------------------------

    def add_task(
        self, name: str, kind: str, cpus: tuple[int, ...], body: TaskBody, *,
        group: str = "tasks", rt: bool = False, runnable: bool = False,
    ) -> Task:  # fmt: skip
        """A task allowed on ``cpus``, traced in the ``vcpu`` names with ``group`` as its
        domain and ``kind`` as its class; asleep, or ``runnable`` on its first CPU."""
        for c in cpus:
            if not 0 <= c < self.topology.ncpus:
                raise ConfigError(
                    f"task {name} cpus", c, f"a CPU of the host (0..{self.topology.ncpus - 1})"
                )
        tid = self.sim.trace.names.add("vcpu", name)
        self.sim.trace.meta.vcpus[name] = VcpuInfo(group, kind)
        task = Task(tid, name, kind, body, cpus, SCHED_FIFO if rt else SCHED_NORMAL)
        self.tasks.append(task)
        if runnable:
            cpu = self.cpus[cpus[0]]
            task.state = RUNNABLE
            self.sim.trace.runstate_change(cpu.id, tid, RUNNABLE)
            cpu.rq.enqueue(task, wakeup=False)
        else:
            self.sim.trace.runstate_change(cpus[0], tid, BLOCKED)
        return task

    def create_kthread(
        self, name: str, kind: str, cpus: tuple[int, ...], body: TaskBody, rt: bool
    ) -> Task:
        """A kernel thread (group ``kernel``), asleep until woken; ``rt``: ``SCHED_FIFO``."""
        return self.add_task(name, kind, cpus, body, group="kernel", rt=rt)

    def add_busy_task(self, name: str, cpus: tuple[int, ...], kind: str = "busy") -> Task:
        """A task that always has work (a CPU hog), runnable from the start; ``kind`` its
        class in the trace."""
        return self.add_task(name, kind, cpus, _busy_body, runnable=True)

    def add_sleeper_task(
        self,
        name: str,
        cpus: tuple[int, ...],
        burst: DrawStream,
        sleep: DrawStream,
        kind: str = "sleeper",
        woken_by: str = "timer",
        raises: tuple[tuple[str, float], ...] = (),
    ) -> Task:
        """A task that runs a burst (``burst()`` ns), sleeps (``sleep()`` ns), and again;
        runnable from the start; ``kind`` its class in the trace. ``woken_by``:
        ``timer``, an hrtimer on its CPU wakes it (``hrtimer_wakeup``, a timer
        interrupt); ``task``, work the model does not run wakes it (a futex, a pipe:
        ``try_to_wake_up`` from elsewhere, a reschedule IPI to the CPU it is queued on
        if it should run first; what the waker spent is not modelled). ``raises``:
        softirqs it raises, on average per burst, at the burst's end, each in a
        BH-disabled section (a loopback send's ``NET_RX``:
        :meth:`raise_softirq_bh`)."""
        remote = woken_by == "task"
        numbers = tuple((self.softirq_nr[n], mean) for n, mean in raises)
        owed = [0.0] * len(numbers)

        def body(cpu: LinuxCpu) -> Generator[Event | int, Any, str]:
            if task.remaining_ns <= 0:
                task.remaining_ns = max(burst(), 1)
            left = yield from cpu.run_user(task.remaining_ns)
            task.remaining_ns = left
            if left:
                return PREEMPTED
            for k, (nr, mean) in enumerate(numbers):  # whole raises, the rest carried
                owed[k] += mean
                while owed[k] >= 1.0:
                    owed[k] -= 1.0
                    yield from cpu.raise_softirq_bh(nr)
            if remote:
                self.sim.call_later(max(sleep(), 1), remote_wakeup)
            else:
                cpu.hrtimer_start(max(sleep(), 1), hrtimer_wakeup)
            return BLOCKED_OUT

        def hrtimer_wakeup(cpu: LinuxCpu) -> Proc:
            cpu.try_to_wake_up(task)
            return
            yield

        def remote_wakeup(_event: object) -> None:
            if task.state != BLOCKED:  # still switching out: ttwu waits for it (on_cpu)
                self.sim.call_later(REMOTE_WAKE_RETRY_NS, remote_wakeup)
                return
            self.cpus[task.cpu].try_to_wake_up(task, elsewhere=True)

        task = self.add_task(name, kind, cpus, body, runnable=True)
        return task

    # -- softirqs --------------------------------------------------------------

    def open_softirq(self, name: str, action: Callable[[LinuxCpu], Proc]) -> None:
        """``open_softirq``: ``action`` runs softirq ``name`` (one the design does not)."""
        nr = self.softirq_nr.get(name)
        if nr is None or self.softirq_handlers[nr] is not _nothing:
            free = [
                n for k, n in enumerate(self.softirq_names) if self.softirq_handlers[k] is _nothing
            ]
            raise ConfigError("softirq", name, "one of " + ", ".join(free))
        self.softirq_handlers[nr] = action

    # -- devices ------------------------------------------------------------

    def add_device(self, name: str, cpu: int, handler: Handler) -> IrqSource:
        """A device's MSI-X vector, its affinity ``cpu``, and the driver's hard IRQ handler."""
        if not 0 <= cpu < self.topology.ncpus:
            raise ConfigError(
                f"{name} cpu", cpu, f"a CPU of the host (0..{self.topology.ncpus - 1})"
            )
        return IrqSource(self, name, cpu, handler, "device")


def _ksoftirqd_body(cpu: LinuxCpu) -> Generator[Event | int, Any, str]:
    return (yield from cpu.ksoftirqd_body())


def _busy_body(cpu: LinuxCpu) -> Generator[Event | int, Any, str]:
    task = cpu.curr
    assert task is not None
    if task.remaining_ns <= 0:
        task.remaining_ns = BUSY_BURST_NS
    task.remaining_ns = yield from cpu.run_user(task.remaining_ns)
    return PREEMPTED
