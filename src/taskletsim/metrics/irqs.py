"""What became of each interrupt source's arrivals: raised, merged, held, polled, injected."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.events import (
    COALESCE_DEVICE,
    COALESCE_LAPIC,
    COALESCE_POLLED,
    COALESCE_VIRTUAL,
    EventKind,
)
from ..core.trace import Trace
from .common import window_bounds


@dataclass(frozen=True)
class IrqCounts:
    """One source's interrupts in a window.

    ``raised``: requests that reached a local APIC's IRR (``IRQ_RAISE``);
    ``coalesced``: arrivals merged into a request already pending there;
    ``held``: arrivals merged by a device waiting for the guest's EOI;
    ``polled``: arrivals the guest's NAPI poll took while the interrupt was
    masked; ``arrived`` is the sum of those four. ``virq_coalesced``:
    deliveries merged into the guest's pending vLAPIC vector or event
    channel; ``injected``: virtual interrupts injected into the guest.
    """

    raised: int
    coalesced: int
    held: int
    polled: int
    virq_coalesced: int
    injected: int

    @property
    def arrived(self) -> int:
        return self.raised + self.coalesced + self.held + self.polled

    def as_dict(self) -> dict[str, int]:
        """The JSON form under ``irqs``."""
        return {
            "arrived": self.arrived,
            "raised": self.raised,
            "coalesced": self.coalesced,
            "held": self.held,
            "polled": self.polled,
            "virq_coalesced": self.virq_coalesced,
            "injected": self.injected,
        }


def irq_counts(
    trace: Trace,
    start_ns: int | None = None,
    end_ns: int | None = None,
    kinds: tuple[str, ...] = ("device", "timer"),
) -> dict[str, IrqCounts]:
    """:class:`IrqCounts` of every source of the given kinds, by source name."""
    start, end = window_bounds(trace, start_ns, end_ns)
    nsources = len(trace.meta.irq)

    def count(kind: EventKind, level: int | None = None) -> np.ndarray:
        rows = trace.rows(kind)
        t = trace.time_ns[rows]
        sel = (t >= start) & (t < end)
        if level is not None:
            sel &= trace.arg[rows] == level
        return np.bincount(trace.subject[rows[sel]], minlength=nsources)

    raised = count(EventKind.IRQ_RAISE)
    levels = {
        level: count(EventKind.IRQ_COALESCE, level)
        for level in (COALESCE_LAPIC, COALESCE_VIRTUAL, COALESCE_DEVICE, COALESCE_POLLED)
    }
    injected = count(EventKind.VIRQ_INJECT)
    return {
        info.name: IrqCounts(
            raised=int(raised[sid]),
            coalesced=int(levels[COALESCE_LAPIC][sid]),
            held=int(levels[COALESCE_DEVICE][sid]),
            polled=int(levels[COALESCE_POLLED][sid]),
            virq_coalesced=int(levels[COALESCE_VIRTUAL][sid]),
            injected=int(injected[sid]),
        )
        for sid, info in enumerate(trace.meta.irq)
        if info.kind in kinds
    }
