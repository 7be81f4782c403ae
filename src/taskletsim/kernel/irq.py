"""Interrupt sources: a vector bound to a physical CPU, with the handler ``do_IRQ`` runs."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from mypy_extensions import mypyc_attr
from simpy.events import Event

from ..core.trace import IrqInfo
from ..platform.arrivals import Arrivals

if TYPE_CHECKING:
    from .cpu import PCpu
    from .devices import PassthroughDevice
    from .machine import Machine

Handler = Callable[["PCpu", int], Generator[Event | int, Any, Any]]


def _unbound(cpu: PCpu, seq: int) -> Generator[Event | int, Any, Any]:
    raise RuntimeError("an IRQ source was raised before its handler was set")
    yield


@mypyc_attr(allow_interpreted_subclasses=True)
class IrqSource:
    """An interrupt vector bound to ``cpu``: ``raise_irq`` delivers it there.

    ``kind`` is ``device`` (a passthrough MSI), ``timer`` (a vCPU's tick) or
    ``ipi`` (the event-check IPI). ``handler(cpu, seq)`` is what ``do_IRQ``
    runs; ``seq`` numbers the source's interrupts from 0. ``owner`` is the
    vCPU of a timer, the pirq of a device.
    """

    # slots: no per-instance dict (hundreds per host)
    __slots__ = (
        "cpu",
        "delivery",
        "device",
        "handler",
        "id",
        "kind",
        "machine",
        "name",
        "needs_eoi_exit",
        "owner",
        "seq",
        "timer_fn",
    )

    def __init__(
        self,
        machine: Machine,
        name: str,
        cpu: int,
        handler: Handler | None,
        kind: str,
        needs_eoi_exit: bool = False,
        owner: Any = None,
    ) -> None:
        self.machine = machine
        self.owner = owner
        self.timer_fn: Callable[[PCpu, IrqSource], Generator[Event | int, Any, Any]] | None = None
        self.id = machine.sim.trace.names.add("irq", name)
        self.name = name
        self.cpu = cpu
        self.handler: Handler = handler if handler is not None else _unbound
        self.kind = kind
        self.needs_eoi_exit = needs_eoi_exit
        self.device: PassthroughDevice | None = None
        """The device behind a passthrough MSI (its back-pressure model)."""
        self.delivery = "vlapic"
        """How a passthrough MSI reaches the guest: ``vlapic`` or ``evtchn`` (a pirq)."""
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
