"""What became of each interrupt source's arrivals: raised, merged, held, polled, injected;
from a trace (:func:`irq_counts`) or as the events come (:class:`IrqCountTracker`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..core.events import (
    COALESCE_DEVICE,
    COALESCE_LAPIC,
    COALESCE_POLLED,
    COALESCE_VIRTUAL,
    EventKind,
)
from ..core.trace import Trace, TraceMeta
from .common import Rows, needs, window_bounds


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
    needs(trace, "irq_counts", EventKind.IRQ_RAISE, EventKind.IRQ_COALESCE, EventKind.VIRQ_INJECT)
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


class IrqCountTracker:
    """:func:`irq_counts` as the events come (a :class:`~taskletsim.metrics.common.Tracker`):
    per source, how many of its events of each kind (and merge level) fell in the window."""

    KINDS: ClassVar[tuple[EventKind, ...]] = (
        EventKind.IRQ_RAISE,
        EventKind.IRQ_COALESCE,
        EventKind.VIRQ_INJECT,
    )

    def __init__(self, start: int, end: int) -> None:
        self.start, self.end = start, end
        self.counts: dict[tuple[int, int], int] = {}  # (source, column) -> count

    def consume(self, rows: Rows) -> None:
        start, end, counts = self.start, self.end, self.counts
        for t, _, k, source, a in zip(*rows, strict=True):
            if start <= t < end:  # columns: 0 raised, 1 + a merge level, 5 injected
                key = (source, 0 if k == _RAISE else 5 if k == _VIRQ else 1 + a)
                counts[key] = counts.get(key, 0) + 1

    def irq_counts(
        self, meta: TraceMeta, kinds: tuple[str, ...] = ("device", "timer")
    ) -> dict[str, IrqCounts]:
        """:class:`IrqCounts` of every source of the given kinds (what :func:`irq_counts`
        gives)."""

        def n(sid: int, column: int) -> int:
            return self.counts.get((sid, column), 0)

        return {
            info.name: IrqCounts(
                raised=n(sid, 0),
                coalesced=n(sid, 1 + COALESCE_LAPIC),
                held=n(sid, 1 + COALESCE_DEVICE),
                polled=n(sid, 1 + COALESCE_POLLED),
                virq_coalesced=n(sid, 1 + COALESCE_VIRTUAL),
                injected=n(sid, 5),
            )
            for sid, info in enumerate(meta.irq)
            if info.kind in kinds
        }


_RAISE = int(EventKind.IRQ_RAISE)
_VIRQ = int(EventKind.VIRQ_INJECT)
