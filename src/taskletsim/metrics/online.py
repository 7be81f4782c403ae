"""Measurements gathered while a run goes, without keeping its trace.

:class:`OnlineMetrics` takes the events in trace order, chunk by chunk (the
recorder hands it each chunk it flushes and then drops it), and routes each
event kind to the trackers that read it: every metric's streaming form, kept
next to its batch function (:class:`~taskletsim.metrics.locks.LockTracker`,
:class:`~taskletsim.metrics.runstates.RunstateTracker`,
:class:`~taskletsim.metrics.runstates.LockWaitTracker`,
:class:`~taskletsim.metrics.irqs.IrqCountTracker`,
:class:`~taskletsim.metrics.latency.LatencyTracker`). At the end it builds
from them the same :class:`~taskletsim.metrics.measure.Measurements` that
:func:`~taskletsim.metrics.measure.measure` computes from a whole trace.

Exact percentiles need every value, but not every sample: the latencies and
runstate intervals are kept as counts of their distinct values
(:class:`~taskletsim.metrics.counts.KeyedCounts`). What remains grows with
the distinct values (ns), not with the events; everything else is per lock,
per source, per CPU or per vCPU.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..core.config import ConfigError
from ..core.events import COLUMNS, EventKind
from ..core.trace import NameTable, TraceMeta
from .common import Tracker, is_linux_host
from .counts import VALUE_BITS
from .cputime import CpuTimeTracker
from .irqs import IrqCountTracker
from .latency import LatencyTracker
from .locks import LockTracker
from .measure import LATENCY_KINDS, Measurements
from .runstates import LockWaitTracker, RunstateTracker

_NAMES = tuple(name for name, _ in COLUMNS)


class OnlineMetrics:
    """Gathers :class:`Measurements` over ``[start_ns, end_ns)`` from events in order.

    ``meta`` is the run's metadata as it is being filled in (CPU sockets for
    lock bounces, IRQ sources' kinds): the recorder's own, read as events come.
    """

    def __init__(self, start_ns: int, end_ns: int, meta: TraceMeta) -> None:
        if end_ns > 1 << VALUE_BITS:  # every latency and interval is below the run's end
            raise ConfigError(
                "duration_ms",
                end_ns / 1e6,
                f"at most {(1 << VALUE_BITS) // 10**6} ms metrics-only (its counts hold"
                " values below 2**44 ns)",
            )
        self.start, self.end = start_ns, end_ns
        self.meta = meta
        self.events = 0
        self.locks = LockTracker(start_ns, end_ns, meta)
        self.runstates = RunstateTracker(start_ns, end_ns, meta)
        self.lock_wait = LockWaitTracker(start_ns, end_ns)
        self.irqs = IrqCountTracker(start_ns, end_ns)
        self.latency = LatencyTracker(start_ns, end_ns, meta, LATENCY_KINDS)
        self.trackers: tuple[Tracker, ...] = (
            self.locks,
            self.runstates,
            self.lock_wait,
            self.irqs,
            self.latency,
        )
        self._reads = []  # per tracker: which event kinds it reads
        for tracker in self.trackers:
            reads = np.zeros(max(EventKind) + 1, dtype=bool)
            reads[[int(k) for k in tracker.KINDS]] = True
            self._reads.append(reads)
        self._chunks: list[Mapping[str, np.ndarray]] = []
        self._staged = 0
        self.cputime: CpuTimeTracker | None = None
        """A Linux host's accounting, added at the first routing once the host said what
        it is (:func:`~taskletsim.metrics.common.is_linux_host`)."""

    BATCH = 8192
    """Rows gathered before they are routed: a flush's chunk is a few hundred rows, and
    handing each tracker its share costs a few numpy calls however few rows it has."""

    def consume(self, columns: Mapping[str, np.ndarray]) -> None:
        """Take the next events, in trace order (a chunk of the five columns); every
        :attr:`BATCH` rows, each tracker gets those of its kinds, in order."""
        n = len(columns["time_ns"])
        self.events += n
        self._chunks.append({name: np.array(columns[name]) for name in _NAMES})
        self._staged += n
        if self._staged >= self.BATCH:
            self._route()

    def _route(self) -> None:
        if not self._chunks:
            return
        if len(self._chunks) == 1:
            columns = self._chunks[0]
        else:
            columns = {name: np.concatenate([c[name] for c in self._chunks]) for name in _NAMES}
        self._chunks, self._staged = [], 0
        if self.cputime is None and is_linux_host(self.meta):
            self.cputime = CpuTimeTracker(self.start, self.end, len(self.meta.cpu_socket))
            self.trackers += (self.cputime,)
            reads = np.zeros(max(EventKind) + 1, dtype=bool)
            reads[[int(k) for k in CpuTimeTracker.KINDS]] = True
            self._reads.append(reads)
        kind = columns["kind"]
        for tracker, reads in zip(self.trackers, self._reads, strict=True):
            mine = reads[kind]
            if mine.all():
                tracker.consume(tuple(columns[name].tolist() for name in _NAMES))
            elif mine.any():
                tracker.consume(tuple(columns[name][mine].tolist() for name in _NAMES))

    def held(self) -> int:
        """How many raise times are held (interrupts still waiting for a stage), once the
        rows gathered so far are routed."""
        self._route()
        return self.latency.held()

    def finish(
        self, names: NameTable, meta: TraceMeta, bounds: tuple[int, int] | None = None
    ) -> Measurements:
        """The measurements, once every event has been consumed; ``bounds`` narrows the
        window to where a run stopped early (every event consumed lies before it)."""
        self._route()
        self.meta = self.runstates.meta = meta
        if bounds is not None:
            self.start, self.end = bounds
            for tracker in self.trackers:
                tracker.start, tracker.end = bounds
        latency, pending = self.latency.latency_split(meta)
        return Measurements(
            start_ns=self.start,
            end_ns=self.end,
            events=self.events,
            meta=meta,
            locks=self.locks.stats(names),
            vcpus=self.runstates.times(names),
            lock_wait=self.lock_wait.waits(names),
            irqs=self.irqs.irq_counts(meta, LATENCY_KINDS),
            latency_counts=latency,
            pending_counts=pending,
            lock_wait_hist=self.locks.histograms(names),
            cpu=None if self.cputime is None else self.cputime.cpu_times(names, meta),
        )
