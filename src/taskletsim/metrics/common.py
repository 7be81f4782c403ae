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
