"""A multi-queue NIC whose receive queues are drained by a bottom half, and the threads that
read what they receive.

The pattern of drivers that receive in a tasklet (and of their BH workqueue
conversions), close to NAPI's: a queue's hard IRQ handler masks the queue's
interrupt and defers the receive work; the bottom half (``rx_poll``) takes at
most ``budget`` packets off the ring (NAPI's default weight, 64), hands them
to the socket (``sk_receive_queue.lock``, taken with ``spin_lock`` in BH
context) and wakes the reader; with packets left it defers itself again,
else it unmasks the interrupt (which fires at once if packets came
meanwhile). The reader (``recvmsg``) takes the socket's queue under
``spin_lock_bh`` on its own CPU and processes each packet.

Packets arrive from the wire by the arrival process given (the network does
not wait for the host); arrivals while the queue's interrupt is masked wait
in the ring and are traced as held by the device (``IRQ_COALESCE``,
``COALESCE_DEVICE``). Step costs are parameters (**assumptions**).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from simpy.events import Event

from ..core.events import COALESCE_DEVICE
from ..platform.arrivals import Arrivals
from ..platform.costs import CostDraw
from .sched import BLOCKED_OUT, PREEMPTED, Task

if TYPE_CHECKING:
    from .cpu import LinuxCpu
    from .machine import LinuxHost
    from .seam import Proc


@dataclass(frozen=True)
class NicCosts:
    """Driver and reader step costs (assumptions; each a constant in ns or a distribution,
    :func:`taskletsim.core.config.parse_cost`, drawn per step), and the poll budget."""

    irq_handler_ns: int | str = 300
    """The queue's hard IRQ handler: read the cause, mask the queue's interrupt."""
    rx_packet_ns: int | str = 600
    """One packet in the bottom half: descriptor, buffer, protocol receive."""
    deliver_ns: int | str = 100
    """Queueing a batch on the socket under ``sk_receive_queue.lock``."""
    app_packet_ns: int | str = 1500
    """The reader's work per packet (``recvmsg`` copy and the application's use)."""
    budget: int = 64
    """Packets a bottom-half run takes at most (NAPI's default weight)."""


class RxQueue:
    """One receive queue: its ring, its vector, its socket, its reader."""

    def __init__(
        self,
        host: LinuxHost,
        name: str,
        irq_cpu: int,
        costs: NicCosts,
        reader_cpus: tuple[int, ...],
        itr_ns: int | None = None,
    ) -> None:
        self.host = host
        self.name = name
        self.costs = costs
        sim = host.sim
        self.irq_handler = CostDraw(sim, f"cost:{name}:irq_handler", costs.irq_handler_ns)
        self.rx_packet = CostDraw(sim, f"cost:{name}:rx_packet", costs.rx_packet_ns)
        self.deliver = CostDraw(sim, f"cost:{name}:deliver", costs.deliver_ns)
        self.app_packet = CostDraw(sim, f"cost:{name}:app_packet", costs.app_packet_ns)
        self.ring = 0
        self.masked = False
        self.itr_ns = itr_ns
        """Interrupt moderation (the NIC's ITR): at most one MSI per interval."""
        self._last_irq = -(itr_ns or 0)
        self._itr_pending = False
        self.backlog = 0
        self.lock = host.make_lock(f"{name}:sk_receive_queue.lock")
        self.source = host.add_device(f"{name}:msix", irq_cpu, self.rx_irq_handler)
        self.task = host.design.tasklet_init(f"{name}:rx_poll", self.rx_poll)
        self.reader: Task = host.add_task(f"{name}:reader", "reader", reader_cpus, self.reader_body)

    def start(self, arrivals: Arrivals) -> None:
        """Packets arrive by ``arrivals`` (the queue's own random stream)."""
        arrivals.start(self.host.sim, self.packet_arrives, f"rx:{self.name}")

    def packet_arrives(self) -> None:
        """A packet lands in the ring; the queue's MSI fires unless it is masked, or, with
        moderation, until its interval since the last MSI ends (then it fires once for
        every packet that came meanwhile)."""
        self.ring += 1
        if self.masked or self._itr_pending:
            self._held()
            return
        now = self.host.sim.clock.now
        if self.itr_ns is not None and now - self._last_irq < self.itr_ns:
            self._itr_pending = True  # its MSI comes when the interval ends
            self.host.sim.call_later(self._last_irq + self.itr_ns - now, self._itr_expired)
            return
        self._fire(now)

    def _held(self) -> None:
        source = self.source
        self.host.sim.trace.irq_coalesce(source.cpu, source.id, COALESCE_DEVICE)

    def _fire(self, now: int) -> None:
        self._last_irq = now
        self.source.raise_irq()

    def _itr_expired(self, _event: object) -> None:
        """The interval ends: the held-back MSI fires, unless the bottom half took the
        packets meanwhile (then the packet that held it back counts as held)."""
        self._itr_pending = False
        if self.ring and not self.masked:
            self._fire(self.host.sim.clock.now)
        else:
            self._held()

    def rx_irq_handler(self, cpu: LinuxCpu, seq: int) -> Proc:
        """The hard IRQ handler: mask the queue, defer the receive work."""
        yield from cpu.work(self.irq_handler())
        self.masked = True
        yield from self.host.design.tasklet_schedule(cpu, self.task, self.source.id)

    def rx_poll(self, cpu: Any) -> Proc:
        """The bottom half: up to ``budget`` packets to the socket, wake the reader; again
        if packets remain, else unmask (the MSI fires if some came meanwhile)."""
        n = min(self.ring, self.costs.budget)
        self.ring -= n
        if n:
            yield from cpu.work(self.rx_packet.total(n))
            yield from cpu.spin_lock(self.lock)
            yield from cpu.work(self.deliver())
            self.backlog += n
            cpu.spin_unlock(self.lock)
            yield from cpu.wake_up_process(self.reader)
        if self.ring:
            yield from self.host.design.tasklet_schedule(cpu, self.task, -1)
            return
        self.masked = False

    def reader_body(self, cpu: LinuxCpu) -> Generator[Event | int, Any, str]:
        """``recvmsg`` in a loop: take the socket's queue under ``spin_lock_bh``, process
        it (preemptible: what is left is kept for its next turn); asleep when empty."""
        task = self.reader
        while task.remaining_ns or self.backlog:
            if not task.remaining_ns:
                yield from cpu.spin_lock_bh(self.lock)
                yield from cpu.work(self.deliver())
                task.remaining_ns, self.backlog = self.app_packet.total(self.backlog), 0
                yield from cpu.spin_unlock_bh(self.lock)
            task.remaining_ns = yield from cpu.run_user(task.remaining_ns)
            if task.remaining_ns:
                return PREEMPTED
        return BLOCKED_OUT
