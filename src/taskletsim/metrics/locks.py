"""Lock statistics, as Linux ``/proc/lock_stat`` and Xen lock profiling keep them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.events import EventKind
from ..core.trace import Trace
from .common import Summary, stable_order, window_bounds


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
    start, end = window_bounds(trace, start_ns, end_ns)
    rows = trace.rows(EventKind.LOCK_ACQUIRE)
    t, since, lock = trace.time_ns[rows], trace.arg[rows], trace.subject[rows]
    mine = (t >= start) & (t < end) & (since >= 0)
    bins = wait_bins(t[mine] - since[mine])
    names = trace.names.names("lock")
    width = len(WAIT_EDGES_NS) - 1
    flat = np.bincount(lock[mine].astype(np.int64) * width + bins, minlength=len(names) * width)
    return {name: flat[i * width : (i + 1) * width] for i, name in enumerate(names)}
