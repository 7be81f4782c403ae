"""A device described only by what a trace shows of it: its interrupts, how long its hard
IRQ handler ran, and how long its bottom half ran; and a softirq raised by
tasks, by how long it ran (:class:`SoftirqAction`).

The driver a fitted Linux host gives each interrupt source of a capture
(``taskletsim fit``), where the driver's own structure (its locks, who waits
for it) is not in the trace: the handler (``irq_handler_entry`` to
``irq_handler_exit``) takes ``handler_ns``; with a bottom half, it defers it
through the design (a tasklet, a BH work item, the IRQ's thread), which takes
``bh_ns``. Both are step costs (a constant or a distribution,
:func:`taskletsim.core.config.parse_cost`). The interrupts come by the
arrival process given; one still pending at its vector when the next comes
is merged into it, as the local APIC's IRR merges them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..platform.arrivals import Arrivals
from ..platform.costs import CostDraw

if TYPE_CHECKING:
    from .cpu import LinuxCpu
    from .machine import LinuxHost
    from .seam import Proc


class IrqDevice:
    """One MSI-X vector on ``cpu``, its hard handler, and its optional bottom half."""

    def __init__(
        self,
        host: LinuxHost,
        name: str,
        cpu: int,
        handler_ns: int | str,
        bh_ns: int | str | None,
    ) -> None:
        self.host = host
        self.name = name
        sim = host.sim
        self.handler = CostDraw(sim, f"cost:{name}:handler", handler_ns)
        self.bh = None if bh_ns is None else CostDraw(sim, f"cost:{name}:bh", bh_ns)
        self.source = host.add_device(name, cpu, self.irq_handler)
        self.task = (
            None if self.bh is None else host.design.tasklet_init(f"{name}:bh", self.bottom_half)
        )

    def start(self, arrivals: Arrivals) -> None:
        """Interrupts arrive by ``arrivals`` (the vector's own random stream)."""
        self.source.start(arrivals)

    def irq_handler(self, cpu: LinuxCpu, seq: int) -> Proc:
        """The hard IRQ handler: its work, then the bottom half deferred."""
        yield from cpu.work(self.handler())
        if self.task is not None:
            yield from self.host.design.tasklet_schedule(cpu, self.task, self.source.id)

    def bottom_half(self, cpu: Any) -> Proc:
        """The bottom half's work."""
        assert self.bh is not None
        yield from cpu.work(self.bh())


class SoftirqAction:
    """A softirq the model has no mechanism of, as a trace shows it: each run of its
    action (``open_softirq``) takes ``run_ns`` (a step cost) and raises it again
    ``reraise`` times on average (RCU's core re-raising itself while callbacks remain:
    ``__do_softirq`` restarts for it, and past its limits hands it to ``ksoftirqd``);
    each local timer interrupt raises it ``per_timer_irq`` times on average (the tick's
    ``SCHED``, ``RCU``, ``TIMER``). A fraction is carried to the next time, per CPU."""

    def __init__(
        self,
        host: LinuxHost,
        name: str,
        run_ns: int | str,
        per_timer_irq: float = 0.0,
        reraise: float = 0.0,
    ) -> None:
        self.cost = CostDraw(host.sim, f"cost:softirq:{name}", run_ns)
        self.nr = host.softirq_nr[name]
        self.reraise = reraise
        self.per_timer_irq = per_timer_irq
        ncpus = host.topology.ncpus
        self._owed_run = [0.0] * ncpus
        self._owed_timer = [0.0] * ncpus
        host.open_softirq(name, self.action)
        if per_timer_irq > 0:
            host.timer_raises.append(self.raise_on_timer)

    def action(self, cpu: LinuxCpu) -> Proc:
        """The softirq's run, then its re-raises (softirq context: the restart loop)."""
        yield from cpu.work(self.cost())
        if self.reraise:
            self._raise(cpu, self._owed_run, self.reraise)

    def raise_on_timer(self, cpu: LinuxCpu) -> None:
        """In the timer interrupt: raised as often as the trace showed (run at irq_exit)."""
        self._raise(cpu, self._owed_timer, self.per_timer_irq)

    def _raise(self, cpu: LinuxCpu, owed: list[float], mean: float) -> None:
        owed[cpu.id] += mean
        while owed[cpu.id] >= 1.0:
            owed[cpu.id] -= 1.0
            cpu.raise_softirq(self.nr)
