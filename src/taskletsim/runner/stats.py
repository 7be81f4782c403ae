"""Statistics over replications: a mean with its 95% Student t confidence half-width."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

# Two-sided 95% Student t critical values by degrees of freedom (1..30).
_T95 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t95(df: int) -> float:
    """The two-sided 95% Student t quantile for ``df`` degrees of freedom."""
    if df < 1:
        return math.nan
    return _T95[df - 1] if df <= len(_T95) else 1.96


@dataclass(frozen=True)
class Estimate:
    """Mean over seeds, the 95% confidence half-width, and the per-seed values."""

    mean: float
    ci95: float
    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Iterable[float]) -> Estimate:
        data = tuple(values)
        arr = np.array(data, dtype=float)
        if len(arr) < 2:
            return cls(float(arr.mean()) if len(arr) else math.nan, math.nan, data)
        if (arr == arr[0]).all():  # exactly 0, not the rounding of the mean's sum
            return cls(float(arr[0]), 0.0, data)
        half = t95(len(arr) - 1) * float(arr.std(ddof=1)) / math.sqrt(len(arr))
        return cls(float(arr.mean()), half, data)
