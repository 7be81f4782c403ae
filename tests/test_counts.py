"""Value counts: the same order statistics, means and totals as the samples they count."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskletsim.metrics.counts import KeyedCounts, ValueCounts
from taskletsim.metrics.latency import PERCENTILES, Latency
from taskletsim.metrics.runstates import IntervalSummary
from taskletsim.runner.summary import CURVE_PROBABILITIES

samples = st.lists(st.integers(0, 10**7), min_size=1, max_size=400)
few_values = st.lists(st.integers(0, 12), min_size=1, max_size=2000)


@given(st.one_of(samples, few_values))
def test_quantiles_are_numpys_inverted_cdf(values: list[int]) -> None:
    x = np.array(values, dtype=np.int64)
    counts = ValueCounts.of(x)
    for q in (CURVE_PROBABILITIES, np.array([0.05, 0.5, 0.95]), np.array([0.0, 1.0])):
        assert np.array_equal(counts.quantile(q), np.quantile(x, q, method="inverted_cdf"))
    assert np.array_equal(counts.expand(), np.sort(x))
    assert counts.count == len(x) and counts.total == int(x.sum())


@given(st.one_of(samples, few_values))
def test_summaries_are_numpys_order_statistics_and_exact_means(values: list[int]) -> None:
    x = np.array(values, dtype=np.int64)
    p = np.percentile(x, PERCENTILES, method="inverted_cdf")
    expected = Latency(len(x), float(x.mean()), *map(float, p), float(x.max()))
    assert Latency.of(x) == Latency.of_counts(ValueCounts.of(x)) == expected
    q = np.percentile(x, (5.0, 50.0, 95.0), method="inverted_cdf")
    spans = IntervalSummary(len(x), int(x.sum()), *map(float, q))
    assert IntervalSummary.of(x) == IntervalSummary.of_counts(ValueCounts.of(x)) == spans


def test_empty_counts_give_empty_summaries() -> None:
    empty = ValueCounts.of(np.empty(0, dtype=np.int64))
    assert Latency.of_counts(empty) == Latency(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert IntervalSummary.of_counts(empty) == IntervalSummary(0, 0, 0.0, 0.0, 0.0)
    assert ValueCounts.merged(()) == empty
    with pytest.raises(ValueError, match="empty"):
        empty.quantile(np.array([0.5]))


@given(st.lists(few_values, min_size=1, max_size=5))
def test_merged_counts_are_those_of_the_concatenation(parts: list[list[int]]) -> None:
    merged = ValueCounts.merged(ValueCounts.of(np.array(p)) for p in parts)
    assert merged == ValueCounts.of(np.concatenate([np.array(p) for p in parts]))


@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 30)), max_size=300),
    st.integers(1, 50),
)
def test_keyed_counts_fold_whatever_the_buffer(pairs: list[tuple[int, int]], every: int) -> None:
    keyed = KeyedCounts(fold_every=every)
    for key, value in pairs:
        keyed.add(key, value)
    for key in range(7):
        mine = np.array([v for k, v in pairs if k == key], dtype=np.int64)
        assert keyed.get(key) == ValueCounts.of(mine), key


def test_counts_hold_distinct_values_not_samples() -> None:
    keyed = KeyedCounts(fold_every=1000)
    rng = np.random.default_rng(1)
    for value in rng.integers(0, 100, 100_000).tolist():
        keyed.add(0, value)
    held = keyed.get(0)
    assert held.count == 100_000 and len(held.values) == 100
    assert len(keyed._buffer) == 0


def test_keys_and_values_out_of_range_are_refused() -> None:
    keyed = KeyedCounts()
    keyed.add(2**19 - 1, 2**44 - 1)
    assert keyed.get(2**19 - 1) == ValueCounts.of(np.array([2**44 - 1]))
    for key, value in ((0, -1), (0, 2**44), (-1, 0), (2**19, 0)):
        with pytest.raises(ValueError, match="expected a key in"):
            keyed.add(key, value)
