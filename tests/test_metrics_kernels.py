"""The vectorised kernels the metrics are built on, against the plain loops they replace."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from taskletsim.metrics.common import covered_before, stable_order


@given(st.lists(st.integers(-(2**40), 2**40), max_size=300), st.sampled_from(["i4", "i8", "u1"]))
def test_stable_order_is_numpy_stable_argsort(values: list[int], dtype: str) -> None:
    """Whatever the range (radix sort on a shifted uint8/uint16 copy, or not), the order is
    exactly ``np.argsort(kind="stable")``'s: equal keys keep their order."""
    info = np.iinfo(dtype)
    keys = np.clip(np.array(values, dtype=np.int64), info.min, info.max).astype(dtype)
    narrow = (keys // 1000).astype(dtype) if dtype != "u1" else keys
    for k in (keys, narrow):
        assert np.array_equal(stable_order(k), np.argsort(k, kind="stable"))


@st.composite
def disjoint_intervals(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    gaps = draw(st.lists(st.tuples(st.integers(0, 50), st.integers(1, 50)), max_size=30))
    starts, ends, t = [], [], draw(st.integers(-100, 100))
    for gap, length in gaps:
        t += gap
        starts.append(t)
        t += length
        ends.append(t)
        t += 1
    return np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64)


@given(disjoint_intervals(), st.lists(st.integers(-200, 3000), min_size=1, max_size=40))
def test_covered_is_the_union_length_before_each_point(
    intervals: tuple[np.ndarray, np.ndarray], points: list[int]
) -> None:
    starts, ends = intervals
    x = np.array(points, dtype=np.int64)
    expected = [sum(max(0, min(e, p) - s) for s, e in zip(starts, ends, strict=True)) for p in x]
    if len(starts):
        assert covered_before(starts, ends, x).tolist() == expected
    else:
        assert expected == [0] * len(x)
