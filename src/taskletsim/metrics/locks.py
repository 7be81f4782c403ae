"""Lock statistics, as Linux ``/proc/lock_stat`` and Xen lock profiling keep them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.trace import EventKind, Trace
from .common import Summary, window_bounds


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
    order = np.argsort(subject, kind="stable")
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
