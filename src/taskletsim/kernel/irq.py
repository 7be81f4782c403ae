"""Interrupt sources: a vector bound to a physical CPU, with the handler ``do_IRQ`` runs."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from mypy_extensions import mypyc_attr
from simpy.events import Event

from ..core.trace import IrqInfo
from ..platform.arrivals import Arrivals

if TYPE_CHECKING:
    from .cpu import PhysCpu
    from .host import Kernel

Handler = Callable[[Any, int], Generator[Event | int, Any, Any]]
"""``handler(cpu, seq)``: what ``do_IRQ`` runs for the source, on the host's CPU."""


def _unbound(cpu: PhysCpu[Any, Any], seq: int) -> Generator[Event | int, Any, Any]:
    raise RuntimeError("an IRQ source was raised before its handler was set")
    yield


@mypyc_attr(allow_interpreted_subclasses=True)
class IrqSource:
    """An interrupt vector bound to ``cpu``: ``raise_irq`` delivers it there.

    ``kind`` is ``device`` (a device's MSI), ``timer`` (a timer's LAPIC interrupt),
    ``ipi`` (the event-check IPI) or ``sched`` (the scheduler's timers).
    ``handler(cpu, seq)`` is what ``do_IRQ`` runs; ``seq`` numbers the source's
    interrupts from 0. ``owner`` is what the host hangs on it (Xen: the vCPU of
    a timer, the pirq of a passthrough MSI); ``device`` the device behind it,
    whose back-pressure decides which arrivals become interrupts.
    """

    # slots: no per-instance dict (hundreds per host)
    __slots__ = (
        "cpu",
        "device",
        "handler",
        "id",
        "kind",
        "machine",
        "name",
        "owner",
        "seq",
        "timer_fn",
    )

    def __init__(
        self,
        machine: Kernel[Any, Any],
        name: str,
        cpu: int,
        handler: Handler | None,
        kind: str,
        owner: Any = None,
    ) -> None:
        self.machine = machine
        self.owner = owner
        self.timer_fn: Callable[[Any, IrqSource], Generator[Event | int, Any, Any]] | None = None
        self.id = machine.sim.trace.names.add("irq", name)
        self.name = name
        self.cpu = cpu
        self.handler: Handler = handler if handler is not None else _unbound
        self.kind = kind
        self.device: Any = None
        """The device behind the vector (its back-pressure model), if any."""
        self.seq = 0
        machine.sim.trace.meta.irq.append(IrqInfo(name, kind, cpu))

    def raise_irq(self) -> None:
        """The interrupt fires now; ``seq`` counts those not merged into a pending one."""
        if self.machine.cpus[self.cpu].deliver_irq(self, self.seq):
            self.seq += 1

    def start(self, arrivals: Arrivals) -> None:
        """Drive this source with ``arrivals`` (its random stream is named after it)."""
        arrivals.start(self.machine.sim, self.raise_irq, f"irq:{self.name}")

    def __hash__(self) -> int:
        return self.id

    def __eq__(self, other: object) -> bool:
        return self is other
