"""Splitting a xentrace file into its records, a chunk at a time.

A record's length is in its header word, so where the next record starts is
known only once this one's header is read: :func:`record_starts` walks the
headers (one Python step per record, over a precomputed list of lengths in
words), and everything else about a chunk's records is read with numpy from
those offsets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .xenformat import EVENT_MASK, TRACE_EXTRA_MAX, TRACE_EXTRA_SHIFT


def record_words(words: np.ndarray) -> np.ndarray:
    """For every word, the length in words of a record whose header it would be."""
    lengths: np.ndarray = 1 + ((words >> TRACE_EXTRA_SHIFT) & TRACE_EXTRA_MAX) + 2 * (words >> 31)
    return lengths.astype(np.uint8)


def record_starts(words: np.ndarray) -> tuple[np.ndarray, int]:
    """The offsets (in words) of the records that start in ``words`` and end inside it,
    from offset 0, and the offset where the first record not wholly inside starts."""
    steps = record_words(words).tobytes()  # indexing bytes gives small ints, cheaply
    n = len(steps)
    starts: list[int] = []
    add = starts.append
    i = 0
    safe = n - (3 + TRACE_EXTRA_MAX)  # below it, every record ends inside
    while i < safe:
        add(i)
        i += steps[i]
    while i < n and i + steps[i] <= n:
        add(i)
        i += steps[i]
    return np.asarray(starts, dtype=np.int64), i


@dataclass(frozen=True)
class Records:
    """The records of one chunk, in file order: where each starts (words, from the
    file's start), its header fields, TSC (0 when it has none) and its first four
    data words (0 past its own)."""

    offset: np.ndarray
    event: np.ndarray
    extra: np.ndarray
    has_tsc: np.ndarray
    tsc: np.ndarray
    data: np.ndarray

    @classmethod
    def read(cls, words: np.ndarray, starts: np.ndarray, base: int) -> Records:
        """The records at ``starts`` of ``words``, a chunk beginning at word ``base``."""
        head = words[starts]
        has_tsc = (head >> 31).astype(bool)
        extra = ((head >> TRACE_EXTRA_SHIFT) & TRACE_EXTRA_MAX).astype(np.int64)
        padded = np.concatenate([words, np.zeros(TRACE_EXTRA_MAX + 3, dtype=words.dtype)])
        lo = padded[starts + 1].astype(np.uint64)
        hi = padded[starts + 2].astype(np.uint64)
        tsc = np.where(has_tsc, lo | (hi << np.uint64(32)), np.uint64(0))
        first = starts + 1 + 2 * has_tsc
        data = np.zeros((len(starts), 4), dtype=np.uint64)
        for k in range(4):
            data[:, k] = np.where(extra > k, padded[first + k], 0)
        return cls(
            offset=starts + base,
            event=(head & EVENT_MASK).astype(np.int64),
            extra=extra,
            has_tsc=has_tsc,
            tsc=tsc,
            data=data,
        )

    def __len__(self) -> int:
        return len(self.offset)

    def take(self, rows: np.ndarray) -> Records:
        """The records at ``rows``."""
        return Records(
            self.offset[rows],
            self.event[rows],
            self.extra[rows],
            self.has_tsc[rows],
            self.tsc[rows],
            self.data[rows],
        )
