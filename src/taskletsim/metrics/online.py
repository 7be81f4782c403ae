"""Measurements gathered while a run goes, without keeping its trace.

:class:`OnlineMetrics` consumes the events in trace order, chunk by chunk
(the recorder hands it each chunk it flushes and then drops it), and at the
end builds the same :class:`~taskletsim.metrics.measure.Measurements` that
:func:`~taskletsim.metrics.measure.measure` computes from a whole trace.

Exact percentiles need every value, but not every sample: the latencies and
runstate intervals are kept as counts of their distinct values
(:class:`~taskletsim.metrics.counts.KeyedCounts`), and an interrupt is held
(its raise time, one int) only until every stage it can still reach has
happened. What remains grows with the distinct values (ns), not with the
events; everything else is per lock, per source, per CPU or per vCPU.
An interrupt a stage never reaches (a source that never defers or never
injects, a design that never delivers) stays held to the end: its wait is
what the censored statistics add.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Mapping

import numpy as np

from ..core.config import ConfigError
from ..core.events import (
    COALESCE_DEVICE,
    COALESCE_LAPIC,
    COALESCE_POLLED,
    COALESCE_VIRTUAL,
    EventKind,
)
from ..core.trace import NameTable, TraceMeta
from .common import Summary
from .counts import VALUE_BITS, KeyedCounts, ValueCounts
from .irqs import IrqCounts
from .locks import WAIT_EDGES_NS, LockStats
from .measure import LATENCY_KINDS, Measurements
from .runstates import RUNSTATES, IntervalSummary, VcpuTime

_RAISE = int(EventKind.IRQ_RAISE)
_ENTRY = int(EventKind.IRQ_ENTRY)
_SCHEDULE = int(EventKind.TASKLET_SCHEDULE)
_T_ENTRY = int(EventKind.TASKLET_ENTRY)
_CONTEND = int(EventKind.LOCK_CONTEND)
_ACQUIRE = int(EventKind.LOCK_ACQUIRE)
_RELEASE = int(EventKind.LOCK_RELEASE)
_RUNSTATE = int(EventKind.RUNSTATE_CHANGE)
_VIRQ = int(EventKind.VIRQ_INJECT)
_VM_EXIT = int(EventKind.VM_EXIT)
_VM_ENTRY = int(EventKind.VM_ENTRY)
_COALESCE = int(EventKind.IRQ_COALESCE)
_EDGES = WAIT_EDGES_NS.tolist()
_READ = np.zeros(max(EventKind) + 1, dtype=bool)
_READ[[_RAISE, _ENTRY, _SCHEDULE, _T_ENTRY, _CONTEND, _ACQUIRE, _RELEASE]] = True
_READ[[_RUNSTATE, _VIRQ, _VM_EXIT, _VM_ENTRY, _COALESCE]] = True  # the kinds consume reads
# the tentative latencies gathered per source (key: source * 4 + column): to the
# handler, to the tasklet run, to the vIRQ after that run, to the vIRQ after the
# handler (which of the last two counts is known at the end: whether the source defers)
_HANDLER, _RUN, _VIRQ_RUN, _VIRQ_HANDLER = range(4)


class _Sum:
    """count, min, max, total of durations: a mergeable :class:`Summary`."""

    __slots__ = ("count", "max", "min", "total")

    def __init__(self) -> None:
        self.count = self.total = self.max = 0
        self.min = -1

    def add(self, value: int) -> None:
        self.count += 1
        self.total += value
        if value > self.max:
            self.max = value
        if self.min < 0 or value < self.min:
            self.min = value

    def summary(self) -> Summary:
        if not self.count:
            return Summary(0, 0, 0.0, 0, 0)
        return Summary(self.count, self.min, self.total / self.count, self.max, self.total)


class _Lock:
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
        self.wait, self.hold = _Sum(), _Sum()
        self.open: tuple[int, bool] | None = None  # (time acquired, inside the window)
        self.socket = -1  # of the previous acquisition


class _Vcpu:
    __slots__ = ("entry", "guest", "since", "state", "totals")

    def __init__(self) -> None:
        self.state = -1
        self.since = 0
        self.totals = [0, 0, 0, 0]
        self.guest = 0
        self.entry = -1


class _Cpu:
    """Spins and RUNNING intervals on one pCPU, for the lock wait inside RUNNING."""

    __slots__ = ("open", "running", "spins", "vcpu")

    def __init__(self) -> None:
        self.open = 0  # spins begun (LOCK_CONTEND) and not yet acquired
        self.vcpu = -1  # guest vCPU RUNNING here, and since when
        self.running: list[list[int]] = []  # [vcpu, start, end or -1]
        self.spins: list[list[int]] = []  # merged [start, end], clipped to the window


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
        self.locks: dict[int, _Lock] = {}
        self.vcpus: dict[int, _Vcpu] = {}
        self.cpus: dict[int, _Cpu] = {}
        self.counts: dict[tuple[int, int], int] = {}  # (source, column) -> count
        self.samples = KeyedCounts()  # latencies, key source * 4 + column
        self.spans = KeyedCounts()  # runstate intervals, key vCPU * 4 + state
        # the raise times of the interrupts in the window still waiting for a stage
        self.wait_entry: dict[tuple[int, int], int] = {}  # (source, seq) -> raise time
        self.wait_sched: dict[int, array[int]] = {}  # by source
        self.wait_run: dict[int, list[tuple[int, array[int]]]] = {}  # by tasklet: (source, ..)
        self.wait_virq_run: dict[int, array[int]] = {}  # by source
        self.wait_virq_handler: dict[int, array[int]] = {}
        self.deferring: set[int] = set()
        self.injecting: set[int] = set()
        self.lock_wait: dict[int, int] = {}
        self.events = 0
        self._running_on: dict[int, int] = {}  # vCPU -> the pCPU it is RUNNING on
        self._wanted: list[bool] = []  # per IRQ source: is its latency measured

    # -- consuming ------------------------------------------------------------------

    def consume(self, columns: Mapping[str, np.ndarray]) -> None:
        """Take the next events, in trace order (a chunk of the five columns)."""
        self.events += len(columns["time_ns"])
        read = _READ[columns["kind"]]
        if not read.all():  # the kinds no measurement reads (softirqs, exits) skipped at once
            columns = {name: column[read] for name, column in columns.items()}
        socket_of = self.meta.cpu_socket
        wanted = self._wanted
        if len(wanted) != len(self.meta.irq):  # sources are added as the host is built
            wanted = self._wanted = [s.kind in LATENCY_KINDS for s in self.meta.irq]
        start, end = self.start, self.end
        add = self.samples.add
        vcpus, counts = self.vcpus, self.counts
        # the branches in the order of how often the kinds come
        for t, cpu, kind, subject, arg in zip(
            columns["time_ns"].tolist(),
            columns["cpu"].tolist(),
            columns["kind"].tolist(),
            columns["subject"].tolist(),
            columns["arg"].tolist(),
            strict=True,
        ):
            if kind == _VM_ENTRY:
                v = vcpus.get(subject) or self._vcpu(subject)
                v.entry = t
            elif kind == _VM_EXIT:
                v = vcpus.get(subject) or self._vcpu(subject)
                entry = v.entry
                if entry >= 0:  # _clip(entry, t) inlined, without min/max: it runs per exit
                    lo = entry if entry > start else start
                    hi = t if t < end else end
                    if hi > lo:
                        v.guest += hi - lo
                    v.entry = -1
            elif kind == _ACQUIRE:
                self._acquire(t, cpu, subject, arg, start <= t < end, socket_of)
            elif kind == _RELEASE:
                lock = self.locks.get(subject)
                if lock is not None and lock.open is not None:
                    if lock.open[1]:
                        lock.hold.add(t - lock.open[0])
                    lock.open = None
            elif kind == _RAISE:
                if start <= t < end:
                    raise_key = (subject, 0)  # _count(subject, 0), inlined
                    counts[raise_key] = counts.get(raise_key, 0) + 1
                    if subject < len(wanted) and wanted[subject]:
                        self.wait_entry[(subject, arg)] = t
            elif kind == _ENTRY:
                raised = self.wait_entry.pop((subject, arg), -1)
                if raised >= 0:
                    add(subject * 4 + _HANDLER, t - raised)
                    _queue(self.wait_sched, subject).append(raised)
                    _queue(self.wait_virq_handler, subject).append(raised)
            elif kind == _SCHEDULE:
                if arg >= 0:
                    self.deferring.add(arg)
                    waiting = self.wait_sched.pop(arg, None)
                    if waiting:
                        self.wait_run.setdefault(subject, []).append((arg, waiting))
            elif kind == _VIRQ:
                self.injecting.add(subject)
                if start <= t < end:
                    self._count(subject, 5)
                key = subject * 4 + _VIRQ_RUN
                for raised in self.wait_virq_run.pop(subject, ()):
                    add(key, t - raised)
                key = subject * 4 + _VIRQ_HANDLER
                for raised in self.wait_virq_handler.pop(subject, ()):
                    add(key, t - raised)
            elif kind == _T_ENTRY:
                groups = self.wait_run.pop(subject, None)
                if groups:
                    for source, times in groups:
                        key = source * 4 + _RUN
                        for raised in times:
                            add(key, t - raised)
                        _queue(self.wait_virq_run, source).extend(times)
            elif kind == _RUNSTATE:
                self._runstate(t, cpu, subject, arg)
            elif kind == _CONTEND:
                self._cpu(cpu).open += 1
            elif kind == _COALESCE and start <= t < end:
                self._count(subject, 1 + arg)

    def held(self) -> int:
        """How many raise times are held (interrupts still waiting for a stage): what
        the latency bookkeeping keeps beyond the counts."""
        queues = (self.wait_sched, self.wait_virq_run, self.wait_virq_handler)
        n = len(self.wait_entry) + sum(len(q) for qs in queues for q in qs.values())
        return n + sum(len(t) for groups in self.wait_run.values() for _, t in groups)

    def _count(self, source: int, column: int) -> None:
        key = (source, column)
        self.counts[key] = self.counts.get(key, 0) + 1

    def _clip(self, a: int, b: int) -> int:
        return max(min(b, self.end) - max(a, self.start), 0)

    def _cpu(self, cpu: int) -> _Cpu:
        c = self.cpus.get(cpu)
        if c is None:
            c = self.cpus[cpu] = _Cpu()
        return c

    def _vcpu(self, vid: int) -> _Vcpu:
        v = self.vcpus.get(vid)
        if v is None:
            v = self.vcpus[vid] = _Vcpu()
        return v

    def _acquire(
        self, t: int, cpu: int, lock_id: int, since: int, inside: bool, socket_of: list[int]
    ) -> None:
        lock = self.locks.get(lock_id)
        if lock is None:
            lock = self.locks[lock_id] = _Lock()
        socket = socket_of[cpu] if socket_of else -1
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
        if since >= 0:
            c = self._cpu(cpu)
            c.open = c.open - 1 if c.open > 0 else 0
            a = since if since > self.start else self.start
            b = t if t < self.end else self.end
            if b > a:
                spins = c.spins
                while spins and spins[-1][1] >= a:  # merge what this spin covers or touches
                    a = min(a, spins[-1][0])
                    b = max(b, spins[-1][1])
                    spins.pop()
                spins.append([a, b])
            if not c.open:
                self._settle(c)

    def _runstate(self, t: int, cpu: int, vid: int, state: int) -> None:
        v = self._vcpu(vid)
        if v.state >= 0:
            span = self._clip(v.since, max(t, v.since))
            v.totals[v.state] += span
            if span > 0:
                self.spans.add(vid * 4 + v.state, span)
            if v.state == 0:
                self._stop_running(vid, t)
        v.state, v.since = state, t
        if state == 0:
            self._cpu(cpu).running.append([vid, t, -1])
            self._running_on[vid] = cpu

    def _stop_running(self, vid: int, t: int) -> None:
        cpu = self._running_on.pop(vid, None)
        if cpu is None:
            return
        for interval in reversed(self.cpus[cpu].running):
            if interval[0] == vid and interval[2] < 0:
                interval[2] = t
                break
        c = self.cpus[cpu]
        if not c.open:
            self._settle(c)

    def _settle(self, c: _Cpu, final: bool = False) -> None:
        """Credit each vCPU with its RUNNING time under the spins that can no longer grow
        (no spin is open on the CPU), and drop what no later spin can reach."""
        if not c.spins:
            if final:
                c.running.clear()
            else:
                c.running = [r for r in c.running if r[2] < 0]
            return
        for vid, a, b in c.running:
            ra = max(a, self.start)
            rb = min(self.end if b < 0 else b, self.end)
            if rb <= ra:
                continue
            total = 0
            for sa, sb in c.spins:
                lo, hi = max(ra, sa), min(rb, sb)
                if hi > lo:
                    total += hi - lo
            if total:
                self.lock_wait[vid] = self.lock_wait.get(vid, 0) + total
        horizon = c.spins[-1][1]
        # running intervals still open keep only what lies after the settled spins
        c.running = [[vid, max(a, horizon), b] for vid, a, b in c.running if b < 0]
        c.spins.clear()

    # -- the result --------------------------------------------------------------------

    def finish(
        self, names: NameTable, meta: TraceMeta, bounds: tuple[int, int] | None = None
    ) -> Measurements:
        """The measurements, once every event has been consumed; ``bounds`` narrows the
        window to where a run stopped early (every event consumed lies before it)."""
        self.meta = meta
        if bounds is not None:
            self.start, self.end = bounds
        for c in self.cpus.values():
            self._settle(c, final=True)
        locks = {}
        window = self.end - self.start
        for lid, name in enumerate(names.names("lock")):
            lk = self.locks.get(lid) or _Lock()
            locks[name] = LockStats(
                name=name,
                acquisitions=lk.acq,
                contentions=lk.contentions,
                bounces=lk.bounces,
                con_bounces=lk.con_bounces,
                wait=lk.wait.summary(),
                hold=lk.hold.summary(),
                window_ns=window,
            )
        vcpus = {}
        vnames = names.names("vcpu")
        for vid, name in enumerate(vnames):
            v = self.vcpus.get(vid)
            if v is None or v.state < 0:
                continue
            totals = list(v.totals)
            spans = [self.spans.get(vid * 4 + s) for s in range(4)]
            last = self._clip(v.since, max(self.end, v.since))
            totals[v.state] += last
            if last > 0:
                spans[v.state] = ValueCounts.merged(
                    (spans[v.state], ValueCounts.of(np.array([last])))
                )
            guest = v.guest + (self._clip(v.entry, self.end) if v.entry >= 0 else 0)
            vcpus[name] = VcpuTime(
                totals[0],
                totals[1],
                totals[2],
                totals[3],
                guest,
                window,
                {RUNSTATES[s]: IntervalSummary.of_counts(spans[s]) for s in range(4)},
            )
        lock_wait = {vnames[vid]: 0 for vid, v in self.vcpus.items() if v.state >= 0}
        for vid, ns in self.lock_wait.items():
            lock_wait[vnames[vid]] += ns
        irqs, latency, pending = {}, {}, {}
        for sid, info in enumerate(meta.irq):
            if info.kind not in LATENCY_KINDS:
                continue

            def n(column: int, sid: int = sid) -> int:
                return self.counts.get((sid, column), 0)

            irqs[info.name] = IrqCounts(
                raised=n(0),
                coalesced=n(1 + COALESCE_LAPIC),
                held=n(1 + COALESCE_DEVICE),
                polled=n(1 + COALESCE_POLLED),
                virq_coalesced=n(1 + COALESCE_VIRTUAL),
                injected=n(5),
            )
            latency[info.name], pending[info.name] = self._stages(sid)
        hist = {
            name: np.array((self.locks.get(lid) or _Lock()).hist, dtype=np.int64)
            for lid, name in enumerate(names.names("lock"))
        }
        return Measurements(
            lock_wait_hist=hist,
            start_ns=self.start,
            end_ns=self.end,
            events=self.events,
            meta=meta,
            locks=locks,
            vcpus=vcpus,
            lock_wait=lock_wait,
            irqs=irqs,
            latency_counts=latency,
            pending_counts=pending,
        )

    def _stages(self, sid: int) -> tuple[dict[str, ValueCounts], dict[str, ValueCounts]]:
        deferring = sid in self.deferring
        columns = {"handler": _HANDLER}
        if deferring:
            columns["tasklet"] = _RUN
        if sid in self.injecting:
            columns["virq"] = _VIRQ_RUN if deferring else _VIRQ_HANDLER
        # the raise times still waiting for each column
        waiting: dict[int, list[int]] = {}
        waiting[_HANDLER] = [t for (s, _), t in self.wait_entry.items() if s == sid]
        waiting[_RUN] = waiting[_HANDLER] + list(self.wait_sched.get(sid, ()))
        for groups in self.wait_run.values():
            for source, times in groups:
                if source == sid:
                    waiting[_RUN] += times
        waiting[_VIRQ_RUN] = waiting[_RUN] + list(self.wait_virq_run.get(sid, ()))
        waiting[_VIRQ_HANDLER] = waiting[_HANDLER] + list(self.wait_virq_handler.get(sid, ()))
        done, pending = {}, {}
        for stage, column in columns.items():
            done[stage] = self.samples.get(sid * 4 + column)
            raised = np.array(waiting[column], dtype=np.int64)
            pending[stage] = ValueCounts.of(self.end - raised)
        return done, pending


def _queue(queues: dict[int, array[int]], key: int) -> array[int]:
    q = queues.get(key)
    if q is None:
        q = queues[key] = array("q")
    return q
