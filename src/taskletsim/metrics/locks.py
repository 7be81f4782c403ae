"""Lock statistics, as Linux ``/proc/lock_stat`` and Xen lock profiling keep them: from a
trace (:func:`lock_stats`, :func:`lock_wait_histograms`) or as the events come
(:class:`LockTracker`)."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..core.events import EventKind
from ..core.trace import NameTable, Trace, TraceMeta
from .common import Rows, Summary, SummaryOf, needs, stable_order, window_bounds


@dataclass(frozen=True)
class LockStats:
    """Per-lock statistics, as Linux ``/proc/lock_stat`` and Xen lock profiling keep them.

    ``wait`` is over contended acquisitions only (its ``total`` equals the
    total over all, an uncontended acquisition waits 0); ``hold`` is over all
    released acquisitions. A *bounce* is an acquisition whose previous holder
    was on another socket; ``con_bounces`` counts the contended ones.
    """

    name: str
    acquisitions: int
    contentions: int
    bounces: int
    con_bounces: int
    wait: Summary
    hold: Summary
    window_ns: int

    @property
    def acquisitions_per_s(self) -> float:
        """Acquisitions per second of the window."""
        return self.acquisitions * 1e9 / self.window_ns if self.window_ns else 0.0


def lock_stats(
    trace: Trace, start_ns: int | None = None, end_ns: int | None = None
) -> dict[str, LockStats]:
    """Statistics of every lock named in the trace, keyed by lock name.

    Raises ``ValueError`` if a lock's acquisitions and releases do not
    alternate (two holders at once): the trace is then not a valid one.
    """
    needs(
        trace, "lock_stats", EventKind.LOCK_CONTEND, EventKind.LOCK_ACQUIRE, EventKind.LOCK_RELEASE
    )
    start, end = window_bounds(trace, start_ns, end_ns)
    rows = trace.of_kinds(EventKind.LOCK_ACQUIRE, EventKind.LOCK_RELEASE)
    subject = trace.subject[rows]
    order = stable_order(subject)
    rows, subject = rows[order], subject[order]
    socket_of = np.asarray(trace.meta.cpu_socket, dtype=np.int64)
    names = trace.names.names("lock")
    bounds = np.searchsorted(subject, np.arange(len(names) + 1))
    result: dict[str, LockStats] = {}
    for lock_id, name in enumerate(names):
        mine = rows[bounds[lock_id] : bounds[lock_id + 1]]
        result[name] = _one_lock(trace, name, mine, socket_of, start, end)
    return result


def _one_lock(
    trace: Trace, name: str, rows: np.ndarray, socket_of: np.ndarray, start: int, end: int
) -> LockStats:
    kinds = trace.kind[rows]
    acquire = rows[kinds == EventKind.LOCK_ACQUIRE]
    release = rows[kinds == EventKind.LOCK_RELEASE]
    if len(release) > len(acquire) or len(acquire) > len(release) + 1:
        raise ValueError(f"lock {name}: {len(acquire)} acquisitions but {len(release)} releases")
    if not np.array_equal(kinds[0::2], np.full(len(kinds[0::2]), EventKind.LOCK_ACQUIRE)) or (
        len(kinds) > 1 and not np.all(kinds[1::2] == EventKind.LOCK_RELEASE)
    ):
        raise ValueError(f"lock {name}: acquisitions and releases do not alternate")
    t_acq = trace.time_ns[acquire]
    since = trace.arg[acquire]
    cpu = trace.cpu[acquire].astype(np.int64)
    released = np.zeros(len(acquire), dtype=bool)
    released[: len(release)] = True
    hold = np.zeros(len(acquire), dtype=np.int64)
    hold[: len(release)] = trace.time_ns[release] - t_acq[: len(release)]
    bounce = np.zeros(len(acquire), dtype=bool)
    if len(socket_of) and len(acquire) > 1:
        sockets = socket_of[cpu]
        bounce[1:] = sockets[1:] != sockets[:-1]
    inside = (t_acq >= start) & (t_acq < end)
    contended = inside & (since >= 0)
    return LockStats(
        name=name,
        acquisitions=int(inside.sum()),
        contentions=int(contended.sum()),
        bounces=int((bounce & inside).sum()),
        con_bounces=int((bounce & contended).sum()),
        wait=Summary.of(t_acq[contended] - since[contended]),
        hold=Summary.of(hold[inside & released]),
        window_ns=end - start,
    )


WAIT_EDGES_NS = np.concatenate([[0.0], np.geomspace(1.0, 1e10, 101)])
"""Bin edges of lock wait histograms, ns: [0, 1) then ten bins a decade up to 10 s (the
last bin takes everything longer)."""


def wait_bins(waits: np.ndarray) -> np.ndarray:
    """The histogram bin of each wait (ns): ``WAIT_EDGES_NS[b] <= wait < WAIT_EDGES_NS[b+1]``."""
    index = np.searchsorted(WAIT_EDGES_NS, waits, side="right") - 1
    return np.clip(index, 0, len(WAIT_EDGES_NS) - 2)


def lock_wait_histograms(
    trace: Trace, start_ns: int | None = None, end_ns: int | None = None
) -> dict[str, np.ndarray]:
    """Per lock, the counts of its contended acquisitions in the window by wait, over the
    bins of :data:`WAIT_EDGES_NS`."""
    needs(trace, "lock_wait_histograms", EventKind.LOCK_CONTEND, EventKind.LOCK_ACQUIRE)
    start, end = window_bounds(trace, start_ns, end_ns)
    rows = trace.rows(EventKind.LOCK_ACQUIRE)
    t, since, lock = trace.time_ns[rows], trace.arg[rows], trace.subject[rows]
    mine = (t >= start) & (t < end) & (since >= 0)
    bins = wait_bins(t[mine] - since[mine])
    names = trace.names.names("lock")
    width = len(WAIT_EDGES_NS) - 1
    flat = np.bincount(lock[mine].astype(np.int64) * width + bins, minlength=len(names) * width)
    return {name: flat[i * width : (i + 1) * width] for i, name in enumerate(names)}


@dataclass(frozen=True)
class ContentionStats:
    """A lock's contended acquisitions, as ``perf lock contention`` reports them: how many,
    and their waits (``LOCK_CONTEND`` to ``LOCK_ACQUIRE``) in ns."""

    name: str
    contentions: int
    wait: Summary


def contention_stats(
    trace: Trace, start_ns: int | None = None, end_ns: int | None = None
) -> dict[str, ContentionStats]:
    """Per lock, its acquisitions in the window that waited, and how long: what a trace
    holding contended acquisitions only (a ``lock:contention_begin/end`` capture) can
    say. Locks with no contention in the window are left out."""
    needs(trace, "contention_stats", EventKind.LOCK_CONTEND, EventKind.LOCK_ACQUIRE)
    start, end = window_bounds(trace, start_ns, end_ns)
    rows = trace.rows(EventKind.LOCK_ACQUIRE)
    t, since, lock = trace.time_ns[rows], trace.arg[rows], trace.subject[rows]
    mine = (t >= start) & (t < end) & (since >= 0)
    lock, waits = lock[mine], t[mine] - since[mine]
    order = stable_order(lock)
    lock, waits = lock[order], waits[order]
    names = trace.names.names("lock")
    bounds = np.searchsorted(lock, np.arange(len(names) + 1))
    return {
        name: ContentionStats(
            name, int(bounds[i + 1] - bounds[i]), Summary.of(waits[bounds[i] : bounds[i + 1]])
        )
        for i, name in enumerate(names)
        if bounds[i + 1] > bounds[i]
    }


class _Lock:
    """One lock's running totals (:class:`LockTracker`)."""

    __slots__ = (
        "acq",
        "bounces",
        "con_bounces",
        "contentions",
        "hist",
        "hold",
        "open",
        "socket",
        "wait",
    )

    def __init__(self) -> None:
        self.acq = self.contentions = self.bounces = self.con_bounces = 0
        self.hist = [0] * (len(WAIT_EDGES_NS) - 1)
        self.wait, self.hold = SummaryOf(), SummaryOf()
        self.open: tuple[int, bool] | None = None  # (time acquired, inside the window)
        self.socket = -1  # of the previous acquisition


class LockTracker:
    """:func:`lock_stats` and :func:`lock_wait_histograms` as the events come (a
    :class:`~taskletsim.metrics.common.Tracker`). ``meta`` is the run's metadata, read
    as it is filled in (the CPUs' sockets, for the bounces)."""

    KINDS: ClassVar[tuple[EventKind, ...]] = (EventKind.LOCK_ACQUIRE, EventKind.LOCK_RELEASE)

    def __init__(self, start: int, end: int, meta: TraceMeta) -> None:
        self.start, self.end, self.meta = start, end, meta
        self.locks: dict[int, _Lock] = {}

    def consume(self, rows: Rows) -> None:
        start, end, locks = self.start, self.end, self.locks
        socket_of = self.meta.cpu_socket
        for t, c, k, lock_id, since in zip(*rows, strict=True):
            lock = locks.get(lock_id)
            if lock is None:
                lock = locks[lock_id] = _Lock()
            if k == _RELEASE:
                if lock.open is not None:
                    if lock.open[1]:
                        lock.hold.add(t - lock.open[0])
                    lock.open = None
                continue
            inside = start <= t < end
            socket = socket_of[c] if socket_of else -1
            bounce = bool(socket_of) and lock.socket >= 0 and socket != lock.socket
            if inside:
                lock.acq += 1
                if since >= 0:
                    lock.contentions += 1
                    lock.wait.add(t - since)
                    b = bisect_right(_EDGES, t - since) - 1
                    lock.hist[min(max(b, 0), len(lock.hist) - 1)] += 1
                    lock.con_bounces += bounce
                lock.bounces += bounce
            lock.socket = socket
            lock.open = (t, inside)

    def stats(self, names: NameTable) -> dict[str, LockStats]:
        """Every named lock's :class:`LockStats` (what :func:`lock_stats` gives)."""
        out = {}
        for lid, name in enumerate(names.names("lock")):
            lock = self.locks.get(lid) or _Lock()
            out[name] = LockStats(
                name=name,
                acquisitions=lock.acq,
                contentions=lock.contentions,
                bounces=lock.bounces,
                con_bounces=lock.con_bounces,
                wait=lock.wait.summary(),
                hold=lock.hold.summary(),
                window_ns=self.end - self.start,
            )
        return out

    def histograms(self, names: NameTable) -> dict[str, np.ndarray]:
        """Every named lock's wait histogram (what :func:`lock_wait_histograms` gives)."""
        return {
            name: np.array((self.locks.get(lid) or _Lock()).hist, dtype=np.int64)
            for lid, name in enumerate(names.names("lock"))
        }


_RELEASE = int(EventKind.LOCK_RELEASE)
_EDGES = WAIT_EDGES_NS.tolist()
