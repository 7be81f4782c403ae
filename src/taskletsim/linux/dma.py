"""A DMA engine driver on the virt-dma library, and ``dmatest`` threads that use it.

``drivers/dma/virt-dma.c`` is shared by dozens of DMA drivers: each channel
(``struct virt_dma_chan``) has a lock ``vc->lock`` and lists of submitted,
issued and completed descriptors; completed descriptors are handed to a
bottom half, ``vchan_complete``, that runs their callbacks. It is the code the
tasklet -> BH workqueue conversions of DMA engines change (its ``vc->task``).

- ``dma_irq_handler`` (a driver's hard IRQ handler, e.g. ``bcm2835_dma_callback``):
  under ``vc->lock``, the finished descriptor is completed
  (``vchan_cookie_complete``: onto ``desc_completed``, then the bottom half
  is scheduled through the design: a tasklet, a BH work item, the IRQ
  thread) and the next issued one is started on the hardware.
- ``vchan_complete`` (the bottom half): under ``spin_lock_irq(&vc->lock)``
  splice ``desc_completed``; then, lock dropped, each descriptor's callback
  and its free.
- ``dmatest`` (drivers/dma/dmatest.c) threads close the loop: each prepares a
  transfer, ``tx_submit`` and ``dma_async_issue_pending`` (each under
  ``spin_lock_irqsave(&vc->lock)``), then sleeps in ``wait_event`` until the
  callback (``dmatest_callback``: ``done = true; wake_up_all``) wakes it;
  it then checks the result (``verify_ns``) and goes again.

The channel's hardware runs one descriptor at a time, for ``xfer()`` ns,
then raises its MSI-X vector; it idles until the driver starts the next (as
the bcm2835 and sun6i drivers do). Step costs are parameters
(**assumptions**, no published figure).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from simpy.events import Event

from ..platform.costs import CostDraw
from .sched import BLOCKED_OUT, Task

if TYPE_CHECKING:
    from .cpu import LinuxCpu
    from .machine import LinuxHost
    from .seam import Proc


@dataclass(frozen=True)
class DmaCosts:
    """Driver and client step costs (assumptions): each a constant in ns, or a
    distribution (``exp:500``, :func:`taskletsim.core.config.parse_cost`), drawn per step
    from the channel's own random stream."""

    irq_handler_ns: int | str = 500
    """The driver's hard IRQ handler under ``vc->lock``: status read, complete, start next."""
    callback_ns: int | str = 300
    """One descriptor in ``vchan_complete``: the callback and ``vchan_vdesc_fini``."""
    prep_ns: int | str = 800
    """``dmaengine_prep_dma_memcpy``: a descriptor built (outside the lock)."""
    submit_ns: int | str = 200
    """``tx_submit`` / ``vchan_issue_pending`` work under ``vc->lock``."""
    verify_ns: int | str = 2000
    """A ``dmatest`` thread's work between a completion and its next transfer."""


@dataclass
class Descriptor:
    """``struct virt_dma_desc``: whose transfer it is."""

    thread: DmaTestThread


class DmaTestThread:
    """A ``dmatest`` thread: one transfer in flight, asleep until its callback."""

    __slots__ = ("chan", "done", "task")

    def __init__(self, chan: VirtDmaChannel) -> None:
        self.chan = chan
        self.done = True
        self.task: Task | None = None

    def body(self, cpu: LinuxCpu) -> Generator[Event | int, Any, str]:
        """``dmatest_func``: verify, prep, submit, issue, ``wait_event`` for the callback."""
        while self.done:
            self.done = False
            chan = self.chan
            yield from cpu.work(chan.verify() + chan.prep())
            yield from chan.tx_submit(cpu, Descriptor(self))
            yield from chan.issue_pending(cpu)
        return BLOCKED_OUT


class VirtDmaChannel:
    """One channel: ``vc->lock``, its descriptor lists, its hardware and its vector."""

    def __init__(
        self,
        host: LinuxHost,
        name: str,
        irq_cpu: int,
        xfer: Callable[[], int],
        costs: DmaCosts,
    ) -> None:
        self.host = host
        self.name = name
        self.costs = costs
        sim = host.sim
        self.irq_handler = CostDraw(sim, f"cost:{name}:irq_handler", costs.irq_handler_ns)
        self.callback = CostDraw(sim, f"cost:{name}:callback", costs.callback_ns)
        self.prep = CostDraw(sim, f"cost:{name}:prep", costs.prep_ns)
        self.submit = CostDraw(sim, f"cost:{name}:submit", costs.submit_ns)
        self.verify = CostDraw(sim, f"cost:{name}:verify", costs.verify_ns)
        self.lock = host.make_lock(f"{name}:vc->lock")
        self.submitted: deque[Descriptor] = deque()
        self.issued: deque[Descriptor] = deque()
        self.completed: list[Descriptor] = []
        self.hw: Descriptor | None = None
        self.hw_done = False
        self._xfer = xfer
        self.source = host.add_device(f"{name}:msix", irq_cpu, self.dma_irq_handler)
        self.task = host.design.tasklet_init(f"{name}:vchan_complete", self.vchan_complete)
        self.threads: list[DmaTestThread] = []
        self._list_ns = host.costs.tasklet_list_ns

    def add_thread(self, cpus: tuple[int, ...]) -> DmaTestThread:
        """A ``dmatest`` thread on ``cpus``, runnable from the start."""
        thread = DmaTestThread(self)
        n = len(self.threads)
        thread.task = self.host.add_task(
            f"{self.name}:dmatest{n}", "dmatest", cpus, thread.body, runnable=True
        )
        self.threads.append(thread)
        return thread

    # -- the hardware -------------------------------------------------------------

    def _start(self) -> None:
        """The driver starts the next issued descriptor on the hardware."""
        self.hw = self.issued.popleft()
        self.hw_done = False
        self.host.sim.call_later(self._xfer(), self._finished)

    def _finished(self, _event: object) -> None:
        self.hw_done = True
        self.source.raise_irq()

    # -- the driver ------------------------------------------------------------------

    def dma_irq_handler(self, cpu: LinuxCpu, seq: int) -> Proc:
        """The hard IRQ handler: complete the finished descriptor (``vchan_cookie_complete``
        schedules the bottom half), start the next; under ``vc->lock``, IRQs off."""
        yield from cpu.spin_lock(self.lock)
        yield from cpu.work(self.irq_handler())
        if self.hw is not None and self.hw_done:
            self.completed.append(self.hw)
            self.hw = None
            yield from self.host.design.tasklet_schedule(cpu, self.task, self.source.id)
            if self.issued:
                self._start()
        cpu.spin_unlock(self.lock)

    def vchan_complete(self, cpu: Any) -> Proc:
        """``vchan_complete``: splice the completed list under the lock, then each
        descriptor's callback (``dmatest_callback`` wakes its thread) and free."""
        yield from cpu.spin_lock_irq(self.lock)
        yield from cpu.work(self._list_ns)
        batch = self.completed
        self.completed = []
        yield from cpu.spin_unlock_irq(self.lock)
        for desc in batch:
            yield from cpu.work(self.callback())
            thread = desc.thread
            thread.done = True
            assert thread.task is not None
            yield from cpu.wake_up_process(thread.task)

    def tx_submit(self, cpu: LinuxCpu, desc: Descriptor) -> Proc:
        """``vchan_tx_submit``: onto ``desc_submitted`` under ``vc->lock``."""
        flags = yield from cpu.spin_lock_irqsave(self.lock)
        yield from cpu.work(self.submit())
        self.submitted.append(desc)
        yield from cpu.spin_unlock_irqrestore(self.lock, flags)

    def issue_pending(self, cpu: LinuxCpu) -> Proc:
        """``dma_async_issue_pending``: ``vchan_issue_pending`` moves submitted to issued;
        an idle channel starts the first."""
        flags = yield from cpu.spin_lock_irqsave(self.lock)
        yield from cpu.work(self.submit())
        self.issued.extend(self.submitted)
        self.submitted.clear()
        if self.hw is None and self.issued:
            self._start()
        yield from cpu.spin_unlock_irqrestore(self.lock, flags)
