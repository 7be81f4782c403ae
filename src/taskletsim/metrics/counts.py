"""Samples kept as exact value counts: what an exact percentile needs, in the room of
the distinct values rather than of the samples.

A run's latencies and runstate intervals are integer ns; over a long run the
same values recur, so :class:`ValueCounts` (each distinct value once, with how
often it occurred) holds them in a fraction of the room an array of samples
takes, and gives the same order statistics (numpy's ``method="inverted_cdf"``,
bit for bit), mean, total and extremes. :class:`KeyedCounts` gathers many of
them from a stream of (key, value) pairs, folding a bounded buffer into the
counts as it fills.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Self

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True, eq=False)
class ValueCounts:
    """A multiset of integers: ``values`` sorted and distinct, ``counts[i]`` (> 0) how
    many samples equal ``values[i]``."""

    values: np.ndarray
    counts: np.ndarray

    @classmethod
    def of(cls, samples: np.ndarray) -> ValueCounts:
        """The counts of an array of samples."""
        values, counts = np.unique(np.asarray(samples, dtype=np.int64), return_counts=True)
        return cls(values, counts.astype(np.int64))

    @classmethod
    def merged(cls, parts: Iterable[ValueCounts]) -> ValueCounts:
        """The union of several multisets (counts of equal values added)."""
        parts = list(parts)
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return cls.of(np.empty(0, dtype=np.int64))
        values = np.concatenate([p.values for p in parts])
        counts = np.concatenate([p.counts for p in parts])
        unique, inverse = np.unique(values, return_inverse=True)
        summed = np.zeros(len(unique), dtype=np.int64)
        np.add.at(summed, inverse, counts)
        return cls(unique, summed)

    @property
    def count(self) -> int:
        """How many samples."""
        return int(self.counts.sum())

    @property
    def total(self) -> int:
        """Their sum, exact."""
        return int(np.dot(self.values, self.counts))

    def quantile(self, probabilities: ArrayLike) -> np.ndarray:
        """Order statistics at ``probabilities`` (in [0, 1]), as
        ``np.quantile(self.expand(), probabilities, method="inverted_cdf")`` gives them.

        The sorted sample's position is computed as numpy computes it (``n * q - 1``,
        up to the next integer unless exact); the value there is found through the
        cumulative counts. There must be a sample (numpy raises on none too)."""
        n = self.count
        if not n:
            raise ValueError("no order statistic of an empty set of samples")
        index = n * np.asarray(probabilities, dtype=np.float64) - 1
        below = np.floor(index)
        position = np.where(index - below == 0, below, below + 1).astype(np.int64)
        position = np.clip(position, 0, n - 1)
        at = np.searchsorted(np.cumsum(self.counts), position, side="right")
        return self.values[at].astype(np.float64)

    def expand(self) -> np.ndarray:
        """The samples themselves, sorted."""
        return np.repeat(self.values, self.counts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ValueCounts):
            return NotImplemented
        return np.array_equal(self.values, other.values) and np.array_equal(
            self.counts, other.counts
        )


VALUE_BITS = 44
"""A :class:`KeyedCounts` value lies in ``[0, 2**44)`` (in ns, 4.9 hours) and its key in
``[0, 2**19)``: the pair is one int64, ``key << VALUE_BITS | value``."""

_VALUE_END = 1 << VALUE_BITS
_KEY_END = 1 << (63 - VALUE_BITS)


class KeyedCounts:
    """:class:`ValueCounts` per integer key, gathered one sample at a time.

    ``add(key, value)`` appends the pair, as one int64 (see :data:`VALUE_BITS`), to a
    buffer; when the buffer holds as many samples as the counts hold distinct pairs
    (and at least ``fold_every``), its equal pairs are counted and merged into the
    counts: one array of the distinct pairs, sorted, and one of their counts. What is
    held is then at most twice the distinct pairs (one buffer of ``fold_every`` at
    the start), a fold is a few numpy calls whatever the number of keys, and each
    sample costs a share of a sort."""

    def __init__(self, fold_every: int = 4096) -> None:
        self.fold_every = fold_every
        self._buffer: array[int] = array("q")
        self._pairs = np.empty(0, dtype=np.int64)
        self._counts = np.empty(0, dtype=np.int64)
        self._limit = fold_every

    def add(self, key: int, value: int) -> None:
        if not (0 <= value < _VALUE_END and 0 <= key < _KEY_END):
            raise ValueError(
                f"KeyedCounts: key {key}, value {value}; expected a key in [0, {_KEY_END})"
                f" and a value in [0, {_VALUE_END})"
            )
        self._buffer.append(key << VALUE_BITS | value)
        if len(self._buffer) >= self._limit:
            self.fold()

    def fold(self) -> None:
        """Move the buffer into the counts."""
        if not self._buffer:
            return
        pairs, counts = np.unique(np.frombuffer(self._buffer, dtype=np.int64), return_counts=True)
        self._buffer = array("q")
        at = np.searchsorted(self._pairs, pairs)
        known = at < len(self._pairs)
        known[known] = self._pairs[at[known]] == pairs[known]
        self._counts[at[known]] += counts[known]
        new = ~known
        self._pairs = np.insert(self._pairs, at[new], pairs[new])
        self._counts = np.insert(self._counts, at[new], counts[new])
        self._limit = max(self.fold_every, len(self._pairs))

    def get(self, key: int) -> ValueCounts:
        """The counts of ``key`` (empty if it had no sample); folds the buffer first."""
        self.fold()
        base = key << VALUE_BITS
        lo = int(np.searchsorted(self._pairs, base))
        hi = int(np.searchsorted(self._pairs, base | (_VALUE_END - 1), side="right"))
        return ValueCounts(self._pairs[lo:hi] - base, self._counts[lo:hi].copy())


class FromCounts:
    """A summary of a sample made from its value counts (``of_counts``), or from the values
    themselves (:meth:`of`, which counts them first)."""

    @classmethod
    def of_counts(cls, counts: ValueCounts) -> Self:
        raise NotImplementedError

    @classmethod
    def of(cls, values: np.ndarray) -> Self:
        """The summary of an array of values (see ``of_counts``)."""
        return cls.of_counts(ValueCounts.of(values))
