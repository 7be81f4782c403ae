"""A passthrough device's back-pressure: how its arrivals become MSIs.

A device's arrivals (packets, completions) come from an arrival process
(:mod:`taskletsim.platform.arrivals`). What an arrival does depends on the
device model:

- ``open``: every arrival sends an MSI; only the local APIC merges (one
  pending request per vector). No back-pressure: the open-loop form.
- ``eoi``: Xen's ``ACKTYPE_EOI`` for a non-maskable MSI (xen/arch/x86/irq.c):
  the interrupt stays in service until the guest's EOI. An arrival meanwhile
  is held as one pending request and sent at the EOI; further ones merge
  into it (``IRQ_COALESCE``, level device). Xen also sets an ``eoi_timer``
  as a backstop for a guest that never EOIs; the model's guests always do.
- ``napi``: the guest driver (Linux NAPI) masks the device's interrupt when
  it takes one and polls; arrivals while it is masked are taken by the poll,
  each adding ``napi_poll_ns`` of guest work, and send nothing
  (``IRQ_COALESCE``, level polled); the driver unmasks when its poll ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.events import COALESCE_DEVICE, COALESCE_POLLED
from .vocabulary import DEVICE_MODELS

if TYPE_CHECKING:
    from ..kernel.irq import IrqSource
    from .guests import VCpu


class PassthroughDevice:
    """The device behind one passthrough MSI ``source``, delivered to ``target``."""

    __slots__ = ("held", "in_flight", "model", "poll_ns", "polled", "source", "target")

    def __init__(self, source: IrqSource, target: VCpu, model: str, poll_ns: int) -> None:
        if model not in DEVICE_MODELS:
            raise ValueError(f"device model {model!r}: expected one of {DEVICE_MODELS}")
        self.source = source
        self.target = target
        self.model = model
        self.poll_ns = poll_ns
        self.in_flight = False  # eoi: sent, not yet EOIed; napi: masked, guest polling
        self.held = False  # eoi: one request waiting for the EOI
        self.polled = 0  # napi: arrivals taken by the poll before its ISR began

    def arrive(self) -> None:
        """One arrival at the device (the callback of its arrival process)."""
        if self.model == "open" or not self.in_flight:
            self.in_flight = self.model != "open"
            self.source.raise_irq()
            return
        trace = self.source.machine.sim.trace
        if self.model == "eoi":
            if self.held:  # merges into the request already held
                trace.irq_coalesce(self.source.cpu, self.source.id, COALESCE_DEVICE)
            self.held = True
            return
        trace.irq_coalesce(self.source.cpu, self.source.id, COALESCE_POLLED)
        if not self.target.extend_isr(self.source, self.poll_ns):
            self.polled += 1

    def isr_ns(self, base_ns: int) -> int:
        """Guest work of the ISR about to run: ``base_ns`` plus what its poll takes."""
        extra = self.polled * self.poll_ns
        self.polled = 0
        return base_ns + extra

    def end_of_isr(self) -> None:
        """The guest's ISR (and poll) is done: a NAPI driver unmasks the device."""
        if self.model == "napi":
            self.in_flight = False

    def eoi(self) -> None:
        """The guest's EOI: the interrupt leaves service; a held request is sent now."""
        if self.model != "eoi":
            return
        self.in_flight = False
        if self.held:
            self.held = False
            self.in_flight = True
            self.source.raise_irq()
