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

import numpy as np


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

    def quantile(self, probabilities: np.ndarray) -> np.ndarray:
        """Order statistics at ``probabilities`` (in [0, 1]), as
        ``np.quantile(self.expand(), probabilities, method="inverted_cdf")`` gives them.

        The sorted sample's position is computed as numpy computes it (``n * q - 1``,
        up to the next integer unless exact); the value there is found through the
        cumulative counts."""
        n = self.count
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

    def __len__(self) -> int:
        return self.count


class KeyedCounts:
    """:class:`ValueCounts` per integer key, gathered one sample at a time.

    ``add(key, value)`` appends to a buffer; when it holds as many samples as the
    counts hold distinct (key, value) pairs (and at least ``fold_every``), it is
    folded in: buffer and counts sorted together by (key, value), equal pairs'
    counts added. The counts are three arrays sorted by (key, value), so a fold is
    a few numpy calls whatever the number of keys; what is held is at most twice
    the distinct pairs (one buffer of ``fold_every`` at the start), and each sample
    costs a share of a sort."""

    def __init__(self, fold_every: int = 4096) -> None:
        self.fold_every = fold_every
        self._keys: array[int] = array("q")
        self._values: array[int] = array("q")
        empty = np.empty(0, dtype=np.int64)
        self._k, self._v, self._c = empty, empty, empty
        self._limit = fold_every

    def add(self, key: int, value: int) -> None:
        self._keys.append(key)
        self._values.append(value)
        if len(self._keys) >= self._limit:
            self.fold()

    def fold(self) -> None:
        """Move the buffer into the counts: the buffer sorted and its equal pairs counted
        first (what recurs takes one entry), then merged with the counts."""
        if not self._keys:
            return
        keys, values, counts = _counted(
            np.frombuffer(self._keys, dtype=np.int64),
            np.frombuffer(self._values, dtype=np.int64),
            np.ones(len(self._keys), dtype=np.int64),
        )
        self._keys, self._values = array("q"), array("q")
        if len(self._k):
            keys, values, counts = _counted(
                np.concatenate([self._k, keys]),
                np.concatenate([self._v, values]),
                np.concatenate([self._c, counts]),
            )
        self._k, self._v, self._c = keys, values, counts
        self._limit = max(self.fold_every, len(self._k))

    def get(self, key: int) -> ValueCounts:
        """The counts of ``key`` (empty if it had no sample); folds the buffer first."""
        self.fold()
        lo, hi = np.searchsorted(self._k, [key, key + 1]).tolist()
        return ValueCounts(self._v[lo:hi].copy(), self._c[lo:hi].copy())


def _counted(
    keys: np.ndarray, values: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(key, value) pairs sorted, each once, with their counts added."""
    order = np.lexsort((values, keys))
    keys = keys[order]
    values = values[order]
    counts = counts[order]
    del order
    change = np.empty(len(keys), dtype=bool)
    change[0] = True
    np.not_equal(keys[1:], keys[:-1], out=change[1:])
    change[1:] |= values[1:] != values[:-1]
    starts = np.flatnonzero(change)
    del change
    return keys[starts], values[starts], np.add.reduceat(counts, starts)
