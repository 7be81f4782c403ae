"""The observation window and the duration summary every metric shares."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.trace import Trace


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
