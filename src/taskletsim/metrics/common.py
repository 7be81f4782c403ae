"""What every metric shares: the observation window, the duration summary, and the shape of
a streaming tracker.

Each metric is a batch function of a whole trace (``lock_stats``,
``vcpu_times``, ...) and, next to it, a :class:`Tracker` that computes the
same from the events as they come, for a run that keeps no trace
(:class:`~taskletsim.metrics.online.OnlineMetrics` routes the events to them;
the trackers of Ciw, a queueing simulator, have this shape).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np

from ..core.events import EventKind
from ..core.source import require_kinds
from ..core.trace import Trace, TraceMeta

Rows = tuple[list[int], list[int], list[int], list[int], list[int]]
"""Events as a tracker takes them: their ``time_ns``, ``cpu``, ``kind``, ``subject`` and
``arg``, one list each, in trace order."""


class Tracker(Protocol):
    """A metric gathered while the run goes: it reads the events of its :attr:`KINDS`, in
    trace order, one chunk at a time, and gives at the end what its batch function gives
    of the whole trace (each tracker names its own result method).

    A tracker measures over ``[start, end)`` (set at construction; a run stopped early
    narrows ``end`` before the result is read) and holds what its figures need, not the
    events: counts, totals, the raise times of interrupts still in flight.
    """

    KINDS: ClassVar[tuple[EventKind, ...]]
    """The event kinds it reads; the others never reach it."""

    start: int
    end: int

    def consume(self, rows: Rows) -> None:
        """Take the next events of its kinds, in trace order."""


class SummaryOf:
    """count, min, max, total of durations as they come: a :class:`Summary` at the end."""

    __slots__ = ("count", "max", "min", "total")

    def __init__(self) -> None:
        self.count = self.total = self.max = 0
        self.min = -1

    def add(self, value: int) -> None:
        self.count += 1
        self.total += value
        if value > self.max:
            self.max = value
        if self.min < 0 or value < self.min:
            self.min = value

    def summary(self) -> Summary:
        if not self.count:
            return Summary(0, 0, 0.0, 0, 0)
        return Summary(self.count, self.min, self.total / self.count, self.max, self.total)


@dataclass(frozen=True)
class Summary:
    """count, min, mean, max, total of a set of durations in ns (all 0 if empty)."""

    count: int
    min: int
    mean: float
    max: int
    total: int

    @classmethod
    def of(cls, values: np.ndarray) -> Summary:
        if len(values) == 0:
            return cls(0, 0, 0.0, 0, 0)
        total = int(values.sum())
        return cls(len(values), int(values.min()), total / len(values), int(values.max()), total)

    def as_dict(self) -> dict[str, float | int]:
        """The JSON form: ``min``, ``mean``, ``max``, ``total``."""
        return {"min": self.min, "mean": self.mean, "max": self.max, "total": self.total}


def window_bounds(trace: Trace, start_ns: int | None, end_ns: int | None) -> tuple[int, int]:
    """Resolve a window: default start 0, default end the run's duration."""
    start = 0 if start_ns is None else int(start_ns)
    if end_ns is not None:
        end = int(end_ns)
    elif trace.meta.duration_ns is not None:
        end = int(trace.meta.duration_ns)
    else:
        end = int(trace.time_ns[-1]) + 1 if len(trace) else 0
    if end < start:
        raise ValueError(f"window end {end} is before its start {start}")
    return start, end


def stable_order(keys: np.ndarray) -> np.ndarray:
    """Indices that sort ``keys`` stably (equal keys keep their order, here trace order).

    Keys spanning fewer than 2**16 values (ids of locks, vCPUs, IRQ sources) are
    shifted into uint8/uint16 so that numpy sorts them with its radix sort,
    several times faster than the timsort it uses for wider integers."""
    if len(keys) > 1:
        low, high = int(keys.min()), int(keys.max())
        if high - low < 2**8:
            keys = (keys - low).astype(np.uint8)
        elif high - low < 2**16:
            keys = (keys - low).astype(np.uint16)
    return np.argsort(keys, kind="stable")


def merge_intervals(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The union of intervals, as sorted disjoint intervals."""
    if not len(starts):
        return starts, ends
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    reach = np.maximum.accumulate(ends)
    new = np.r_[True, starts[1:] > reach[:-1]]
    return starts[new], np.maximum.reduceat(ends, np.flatnonzero(new))


def covered_before(starts: np.ndarray, ends: np.ndarray, x: np.ndarray) -> np.ndarray:
    """For sorted disjoint intervals, the length of their union before each point ``x``."""
    before = np.concatenate([[0], np.cumsum(ends - starts)])
    j = np.searchsorted(starts, x, side="right")  # intervals starting at or before x
    past = np.maximum(ends[np.maximum(j - 1, 0)] - x, 0)  # of the last one, what lies after x
    covered: np.ndarray = before[j] - np.where(j > 0, past, 0)
    return covered


def excluded_windows(trace: Trace, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """The windows whose records an imported trace lost (``meta.source["excluded"]``, on
    any pCPU), merged and clipped to [``start``, ``end``); none for a simulated trace."""
    source = trace.meta.source
    windows = source.get("excluded", []) if source else []
    if not windows:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    found = np.asarray(windows, dtype=np.int64).reshape(-1, 3)
    lo = np.clip(found[:, 1], start, end)
    hi = np.clip(found[:, 2], start, end)
    keep = hi > lo
    return merge_intervals(lo[keep], hi[keep])


def needs(trace: Trace, metric: str, *kinds: EventKind) -> None:
    """Refuse ``metric`` on an imported trace whose source cannot record ``kinds``
    (:func:`~taskletsim.core.source.require_kinds`): absent events must not read as
    zeros."""
    require_kinds(trace.meta.source, metric, kinds)


def is_linux_host(meta: TraceMeta) -> bool:
    """Whether the trace comes from a bare-metal Linux host, simulated or captured
    (``meta.extra["host"]``): its runstates are tasks', and it has no guests."""
    return meta.extra.get("host") == "linux"
