"""Runstate times, steal (and how a guest reads it, :mod:`.steal`) and the hypervisor's
share of RUNNING, per vCPU, domain, class: from a trace (:func:`vcpu_times`,
:func:`lock_wait_in_running`) or as the events come (:class:`RunstateTracker`,
:class:`LockWaitTracker`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..core.events import EventKind
from ..core.trace import NameTable, Trace, TraceMeta
from .common import (
    Rows,
    covered_before,
    excluded_windows,
    is_linux_host,
    merge_intervals,
    needs,
    stable_order,
    window_bounds,
)
from .counts import FromCounts, KeyedCounts, ValueCounts
from .steal import TickAccount, guest_tick_ns, is_tick, periodic_tick_accounting

RUNSTATES = ("running", "runnable", "blocked", "offline")


@dataclass(frozen=True)
class IntervalSummary(FromCounts):
    """xenalyze-style summary of one runstate's intervals (clipped to the window)."""

    count: int
    total_ns: int
    p5_ns: float
    p50_ns: float
    p95_ns: float

    @classmethod
    def of_counts(cls, counts: ValueCounts) -> IntervalSummary:
        """The summary of interval lengths held as value counts (order statistics as
        numpy's ``percentile(..., method="inverted_cdf")``)."""
        n = counts.count
        if not n:
            return cls(0, 0, 0.0, 0.0, 0.0)
        p = counts.quantile(np.asarray((5.0, 50.0, 95.0)) / 100)
        return cls(n, counts.total, float(p[0]), float(p[1]), float(p[2]))

    def as_dict(self) -> dict[str, float | int]:
        """The JSON form: ``count``, ``total_ns``, ``p5_ns``, ``p50_ns``, ``p95_ns``."""
        return {
            "count": self.count,
            "total_ns": self.total_ns,
            "p5_ns": self.p5_ns,
            "p50_ns": self.p50_ns,
            "p95_ns": self.p95_ns,
        }


@dataclass(frozen=True)
class VcpuTime:
    """Where a vCPU's (or a domain's) wall time went, in ns over the window.

    ``running_ns`` includes the hypervisor's work done while it was current
    (VM exits, softirqs and tasklets on the VM-entry path), as Xen counts it;
    ``hv_ns`` is that part (RUNNING minus guest mode, VM entry to VM exit).
    Steal is runnable + offline, as Linux's ``xen_steal_clock``.
    ``woken_runnable_ns`` is the RUNNABLE time entered from BLOCKED (a woken
    vCPU waiting for a pCPU, which a NO_HZ guest counts as idle too);
    ``periodic_steal_ns`` / ``periodic_other_ns`` what a periodic-tick guest's
    handled ticks account as steal and as everything else
    (:func:`~taskletsim.metrics.steal.periodic_tick_accounting`).
    """

    running_ns: int
    runnable_ns: int
    blocked_ns: int
    offline_ns: int
    guest_ns: int
    window_ns: int
    intervals: dict[str, IntervalSummary]
    woken_runnable_ns: int = 0
    periodic_steal_ns: int = 0
    periodic_other_ns: int = 0

    @property
    def hv_ns(self) -> int:
        return self.running_ns - self.guest_ns

    @property
    def steal_ns(self) -> int:
        """The steal clock's advance over the window (``xen_steal_clock``)."""
        return self.runnable_ns + self.offline_ns

    @property
    def steal_pct(self) -> float:
        """Steal over wall time: (runnable + offline) / window."""
        total = self.running_ns + self.runnable_ns + self.blocked_ns + self.offline_ns
        return 100.0 * self.steal_ns / total if total else 0.0

    @property
    def steal_top_nohz_pct(self) -> float:
        """``st`` in ``top`` of a NO_HZ guest: steal / (wall + woken RUNNABLE), the
        wait of a woken vCPU being idle time to the guest as well as steal."""
        total = self.running_ns + self.runnable_ns + self.blocked_ns + self.offline_ns
        total += self.woken_runnable_ns
        return 100.0 * self.steal_ns / total if total else 0.0

    @property
    def steal_top_periodic_pct(self) -> float:
        """``st`` in ``top`` of a periodic-tick guest: steal over what its handled
        ticks accounted (0 without ticks)."""
        total = self.periodic_steal_ns + self.periodic_other_ns
        return 100.0 * self.periodic_steal_ns / total if total else 0.0

    @property
    def runnable_share_of_wanted_pct(self) -> float:
        """Runnable / (runnable + running): the share of the time the vCPU wanted a
        pCPU that it waited for one."""
        wanted = self.runnable_ns + self.running_ns
        return 100.0 * self.runnable_ns / wanted if wanted else 0.0

    @property
    def runnable_share_of_wanted_guest_pct(self) -> float:
        """Runnable / (runnable + guest mode): the same, counting as running only the
        time the guest's own code ran."""
        wanted = self.runnable_ns + self.guest_ns
        return 100.0 * self.runnable_ns / wanted if wanted else 0.0

    @property
    def hv_pct(self) -> float:
        """Share of RUNNING spent in the hypervisor."""
        return 100.0 * self.hv_ns / self.running_ns if self.running_ns else 0.0

    def as_dict(self) -> dict[str, float | int]:
        """The JSON form under ``vcpus`` / ``domains``."""
        return {
            "running_ns": self.running_ns,
            "runnable_ns": self.runnable_ns,
            "blocked_ns": self.blocked_ns,
            "offline_ns": self.offline_ns,
            "guest_ns": self.guest_ns,
            "hv_ns": self.hv_ns,
            "woken_runnable_ns": self.woken_runnable_ns,
            "periodic_steal_ns": self.periodic_steal_ns,
            "periodic_other_ns": self.periodic_other_ns,
            "steal_pct": self.steal_pct,
            "steal_top_nohz_pct": self.steal_top_nohz_pct,
            "steal_top_periodic_pct": self.steal_top_periodic_pct,
            "runnable_share_of_wanted_pct": self.runnable_share_of_wanted_pct,
            "runnable_share_of_wanted_guest_pct": self.runnable_share_of_wanted_guest_pct,
            "hv_pct": self.hv_pct,
        }


def _clipped(starts: np.ndarray, ends: np.ndarray, start: int, end: int) -> np.ndarray:
    """Length of each interval [starts, ends) inside the window [start, end)."""
    spans: np.ndarray = np.maximum(np.minimum(ends, end) - np.maximum(starts, start), 0)
    return spans


def vcpu_times(
    trace: Trace,
    start_ns: int | None = None,
    end_ns: int | None = None,
    tick_ns: int | None = None,
) -> dict[str, VcpuTime]:
    """Runstate time, guest time, interval summaries and steal readings of every guest vCPU.

    Built from ``RUNSTATE_CHANGE`` (every guest vCPU has one at time 0),
    ``VM_ENTRY``/``VM_EXIT`` events and the ``VIRQ_INJECT`` of each vCPU's tick
    (the ticks it handled, accounted with the guest's ``tick_ns``, by default
    :func:`~taskletsim.metrics.steal.guest_tick_ns`). The four runstates of a
    vCPU add up to the window exactly.
    """
    vm = () if is_linux_host(trace.meta) else (EventKind.VM_ENTRY, EventKind.VM_EXIT)
    needs(trace, "vcpu_times", EventKind.RUNSTATE_CHANGE, *vm)  # a Linux host has no guests
    start, end = window_bounds(trace, start_ns, end_ns)
    tick = guest_tick_ns(trace.meta) if tick_ns is None else tick_ns
    names = trace.names.names("vcpu")
    rows = trace.rows(EventKind.RUNSTATE_CHANGE)
    order = stable_order(trace.subject[rows])
    rows = rows[order]
    subject = trace.subject[rows]
    t = trace.time_ns[rows]
    state = trace.arg[rows]
    last = np.r_[subject[1:] != subject[:-1], True]
    t_next = np.where(last, end, np.r_[t[1:], end])
    spans = _clipped(t, np.maximum(t_next, t), start, end)
    lost_start, lost_end = excluded_windows(trace, start, end)
    if len(lost_start):  # time in a window whose records were lost is nobody's
        spans -= _lost_in(lost_start, lost_end, t, np.maximum(t_next, t), start, end)
    woken = (state == 1) & np.r_[False, (state[:-1] == 2) & ~last[:-1]]
    stealing = (state == 1) | (state == 3)
    guest = _guest_time(trace, start, end, len(names), (lost_start, lost_end))
    tick_vcpu, tick_t = _handled_ticks(trace, start, end)
    tick_bounds = np.searchsorted(tick_vcpu, np.arange(len(names) + 1))
    result: dict[str, VcpuTime] = {}
    bounds = np.searchsorted(subject, np.arange(len(names) + 1))
    for vid, name in enumerate(names):
        lo, hi = bounds[vid], bounds[vid + 1]
        if lo == hi:
            continue  # an idle vCPU: no runstates
        mine_state, mine_span = state[lo:hi], spans[lo:hi]
        totals = np.bincount(mine_state, weights=mine_span, minlength=4).astype(np.int64)
        intervals = {
            RUNSTATES[s]: IntervalSummary.of(mine_span[(mine_state == s) & (mine_span > 0)])
            for s in range(4)
        }
        ticks = tick_t[tick_bounds[vid] : tick_bounds[vid + 1]]
        clock = _steal_clock(t[lo:hi], stealing[lo:hi], mine_span, ticks, start)
        periodic = periodic_tick_accounting(clock, tick)
        result[name] = VcpuTime(
            int(totals[0]),
            int(totals[1]),
            int(totals[2]),
            int(totals[3]),
            int(guest[vid]),
            end - start - int((lost_end - lost_start).sum()),
            intervals,
            int(mine_span[woken[lo:hi]].sum()),
            *periodic,
        )
    return result


def _handled_ticks(trace: Trace, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """The ticks the vCPUs handled in the window (the ``VIRQ_INJECT`` of each one's tick
    source): their vCPUs and times, by vCPU, then in trace order."""
    ticks = np.flatnonzero([is_tick(info) for info in trace.meta.irq])
    rows = trace.rows(EventKind.VIRQ_INJECT)
    t = trace.time_ns[rows]
    rows = rows[np.isin(trace.subject[rows], ticks) & (t >= start) & (t < end)]
    vcpu = trace.arg[rows]
    order = stable_order(vcpu)
    return vcpu[order], trace.time_ns[rows][order]


def _steal_clock(
    change_t: np.ndarray, stealing: np.ndarray, spans: np.ndarray, at: np.ndarray, start: int
) -> np.ndarray:
    """One vCPU's steal clock (its RUNNABLE + OFFLINE time since the window's ``start``)
    at the times ``at`` (in the window), from its runstate changes, whether each new
    state is steal, and each interval's length in the window."""
    steal = np.where(stealing, spans, 0)
    before = np.cumsum(steal) - steal  # the steal before each interval
    j = np.searchsorted(change_t, at, side="right") - 1
    ok = j >= 0
    j = np.maximum(j, 0)
    into = np.maximum(at - np.maximum(change_t[j], start), 0)  # of interval j, before ``at``
    clock: np.ndarray = np.where(ok, before[j] + np.where(stealing[j], into, 0), 0)
    return clock


def _lost_in(
    lost_start: np.ndarray, lost_end: np.ndarray, a: np.ndarray, b: np.ndarray, start: int, end: int
) -> np.ndarray:
    """How much of each interval [a, b), clipped to the window, lies in a lost window."""
    a, b = np.clip(a, start, end), np.clip(b, start, end)
    lost: np.ndarray = covered_before(lost_start, lost_end, b) - covered_before(
        lost_start, lost_end, a
    )
    return lost


def _guest_time(
    trace: Trace,
    start: int,
    end: int,
    nvcpus: int,
    lost: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """ns each vCPU spent in guest mode (VM entry to the next VM exit) in the window, less
    the ``lost`` windows (sorted, disjoint)."""
    rows = trace.of_kinds(EventKind.VM_ENTRY, EventKind.VM_EXIT)
    # gathered in trace order (sequential reads of the columns), then reordered by vCPU
    subject = trace.subject[rows]
    order = stable_order(subject)
    subject = subject[order]
    is_entry = (trace.kind[rows] == EventKind.VM_ENTRY)[order]
    t = trace.time_ns[rows][order]
    del rows, order
    follows = subject[1:] == subject[:-1]  # the next event is the same vCPU's
    paired = np.flatnonzero(is_entry[:-1] & ~is_entry[1:] & follows)  # entry, then its exit
    open_end = np.flatnonzero(is_entry & np.r_[~follows, True])  # in guest mode at the end
    span = t[paired + 1]
    np.minimum(span, end, out=span)
    span -= np.maximum(t[paired], start)
    np.maximum(span, 0, out=span)
    tail = np.maximum(end - np.maximum(t[open_end], start), 0)
    if lost is not None and len(lost[0]):
        span -= _lost_in(*lost, t[paired], t[paired + 1], start, end)
        tail -= _lost_in(*lost, t[open_end], np.full(len(open_end), end), start, end)
    size = max(nvcpus, int(subject.max()) + 1 if len(subject) else 0)
    # (bincount of nothing gives ints, of something floats: added, not in place)
    total = np.bincount(subject[paired], weights=span, minlength=size) + np.bincount(
        subject[open_end], weights=tail, minlength=size
    )
    return total.astype(np.int64)


def group_times(times: dict[str, VcpuTime], meta: TraceMeta, field: str) -> dict[str, VcpuTime]:
    """``times`` summed over the vCPUs that share ``field`` (``domain`` or ``workload``)
    of ``meta.vcpus``; a vCPU it does not name is a group of its own."""
    owners = meta.vcpus
    grouped: dict[str, list[VcpuTime]] = {}
    for name, vt in times.items():
        owner = owners.get(name)
        grouped.setdefault(getattr(owner, field) if owner else name, []).append(vt)
    return {
        key: VcpuTime(
            sum(p.running_ns for p in parts),
            sum(p.runnable_ns for p in parts),
            sum(p.blocked_ns for p in parts),
            sum(p.offline_ns for p in parts),
            sum(p.guest_ns for p in parts),
            sum(p.window_ns for p in parts),
            {},
            sum(p.woken_runnable_ns for p in parts),
            sum(p.periodic_steal_ns for p in parts),
            sum(p.periodic_other_ns for p in parts),
        )
        for key, parts in grouped.items()
    }


def _grouped(
    trace: Trace, start_ns: int | None, end_ns: int | None, field: str
) -> dict[str, VcpuTime]:
    return group_times(vcpu_times(trace, start_ns, end_ns), trace.meta, field)


def domain_times(
    trace: Trace, start_ns: int | None = None, end_ns: int | None = None
) -> dict[str, VcpuTime]:
    """:func:`vcpu_times` summed over each domain's vCPUs."""
    return _grouped(trace, start_ns, end_ns, "domain")


def class_times(
    trace: Trace, start_ns: int | None = None, end_ns: int | None = None
) -> dict[str, VcpuTime]:
    """:func:`vcpu_times` summed over each guest class (the vCPUs' workload)."""
    return _grouped(trace, start_ns, end_ns, "workload")


def lock_wait_in_running(
    trace: Trace,
    start_ns: int | None = None,
    end_ns: int | None = None,
    lock: str | None = None,
) -> dict[str, int]:
    """ns each guest vCPU spent RUNNING while its pCPU spun on a lock (``lock`` or any).

    A vCPU is RUNNING on the pCPU that recorded its change to running; a spin
    is the interval from a contended acquisition's ``LOCK_CONTEND`` to its
    ``LOCK_ACQUIRE`` on that pCPU (nested spins counted once). This is the
    part of the hypervisor's share of RUNNING that is lock waiting.
    """
    needs(
        trace,
        "lock_wait_in_running",
        EventKind.LOCK_CONTEND,
        EventKind.LOCK_ACQUIRE,
        EventKind.RUNSTATE_CHANGE,
    )
    start, end = window_bounds(trace, start_ns, end_ns)
    acq = trace.rows(EventKind.LOCK_ACQUIRE)
    acq = acq[trace.arg[acq] >= 0]
    if lock is not None:
        acq = acq[trace.subject[acq] == trace.names.ident("lock", lock)]
    wait_cpu = trace.cpu[acq]
    wait_start = np.maximum(trace.arg[acq], start)
    wait_end = np.minimum(trace.time_ns[acq], end)
    merged = {}
    for cpu in np.unique(wait_cpu):
        sel = (wait_cpu == cpu) & (wait_end > wait_start)
        merged[int(cpu)] = merge_intervals(wait_start[sel], wait_end[sel])
    rows = trace.rows(EventKind.RUNSTATE_CHANGE)
    order = stable_order(trace.subject[rows])
    rows = rows[order]
    subject, t, state, cpu_of = (
        trace.subject[rows],
        trace.time_ns[rows],
        trace.arg[rows],
        trace.cpu[rows],
    )
    last = np.r_[subject[1:] != subject[:-1], True]
    t_next = np.where(last, end, np.r_[t[1:], end])
    names = trace.names.names("vcpu")
    result = {names[int(v)]: 0 for v in np.unique(subject)}
    running = np.flatnonzero((state == 0) & (t_next > t))
    r_start = np.maximum(t[running], start)
    r_end = np.minimum(t_next[running], end)
    ok = r_end > r_start
    running, r_start, r_end = running[ok], r_start[ok], r_end[ok]
    r_cpu = cpu_of[running]
    spun = np.zeros(len(running), dtype=np.int64)
    for cpu, (w_start, w_end) in merged.items():
        if not len(w_start):
            continue
        here = np.flatnonzero(r_cpu == cpu)
        spun[here] = covered_before(w_start, w_end, r_end[here]) - covered_before(
            w_start, w_end, r_start[here]
        )
    vcpu = subject[running]
    for v in np.unique(vcpu[spun > 0]):
        result[names[int(v)]] = int(spun[vcpu == v].sum())
    return result


class _Vcpu:
    """One vCPU's running totals (:class:`RunstateTracker`)."""

    __slots__ = ("entry", "guest", "since", "state", "ticks", "totals", "woken", "woken_ns")

    def __init__(self) -> None:
        self.state = -1
        self.since = 0
        self.totals = [0, 0, 0, 0]
        self.guest = 0
        self.entry = -1
        self.woken = False  # RUNNABLE entered from BLOCKED
        self.woken_ns = 0
        self.ticks = TickAccount()


class RunstateTracker:
    """:func:`vcpu_times` as the events come (a :class:`~taskletsim.metrics.common.Tracker`):
    runstate totals, guest time, each runstate's intervals as counts of their lengths,
    and the steal accounted by each handled tick.

    ``meta`` is the run's metadata as it is filled in (which IRQ sources are ticks; the
    guests' ``tick_ns`` when not given, read at the first tick)."""

    KINDS: ClassVar[tuple[EventKind, ...]] = (
        EventKind.RUNSTATE_CHANGE,
        EventKind.VM_ENTRY,
        EventKind.VM_EXIT,
        EventKind.VIRQ_INJECT,
    )

    def __init__(self, start: int, end: int, meta: TraceMeta, tick_ns: int | None = None) -> None:
        self.start, self.end = start, end
        self.meta = meta
        self.tick_ns = tick_ns
        self.vcpus: dict[int, _Vcpu] = {}
        self.spans = KeyedCounts()  # interval lengths, key vCPU * 4 + runstate
        self._is_tick: list[bool] = []  # per IRQ source known so far

    def _vcpu(self, vid: int) -> _Vcpu:
        v = self.vcpus.get(vid)
        if v is None:
            v = self.vcpus[vid] = _Vcpu()
        return v

    def consume(self, rows: Rows) -> None:
        start, end = self.start, self.end
        vcpus, vcpu_of = self.vcpus, self._vcpu
        for t, _, k, vid, a in zip(*rows, strict=True):
            if k == _VIRQ:
                self._virq(t, vid, a)
                continue
            v = vcpus.get(vid) or vcpu_of(vid)
            if k == _VM_ENTRY:
                v.entry = t
            elif k == _VM_EXIT:
                if v.entry >= 0:  # the clip, without min/max: it runs per exit
                    lo = v.entry if v.entry > start else start
                    hi = t if t < end else end
                    if hi > lo:
                        v.guest += hi - lo
                    v.entry = -1
            else:
                if v.state >= 0:
                    span = _clip(v.since, max(t, v.since), start, end)
                    v.totals[v.state] += span
                    if span > 0:
                        self.spans.add(vid * 4 + v.state, span)
                        if v.woken:
                            v.woken_ns += span
                v.woken = a == 1 and v.state == 2
                v.state, v.since = a, t

    def _virq(self, t: int, irq: int, vid: int) -> None:
        """A vIRQ injected: if it is ``vid``'s tick, in the window, the guest accounts it."""
        if irq >= len(self._is_tick):
            self._is_tick = [is_tick(info) for info in self.meta.irq]
        if not self._is_tick[irq] or not self.start <= t < self.end:
            return
        if self.tick_ns is None:
            self.tick_ns = guest_tick_ns(self.meta)
        v = self._vcpu(vid)
        clock = v.totals[1] + v.totals[3]
        if v.state in (1, 3):
            clock += _clip(v.since, t, self.start, self.end)
        v.ticks.tick(clock, self.tick_ns)

    def times(self, names: NameTable) -> dict[str, VcpuTime]:
        """Every guest vCPU's :class:`VcpuTime` (what :func:`vcpu_times` gives)."""
        out = {}
        start, end = self.start, self.end
        for vid, name in enumerate(names.names("vcpu")):
            v = self.vcpus.get(vid)
            if v is None or v.state < 0:
                continue
            totals = list(v.totals)
            spans = [self.spans.get(vid * 4 + s) for s in range(4)]
            last = _clip(v.since, max(end, v.since), start, end)
            totals[v.state] += last
            if last > 0:
                spans[v.state] = ValueCounts.merged(
                    (spans[v.state], ValueCounts.of(np.array([last])))
                )
            guest = v.guest + (_clip(v.entry, end, start, end) if v.entry >= 0 else 0)
            tick_ns = guest_tick_ns(self.meta) if self.tick_ns is None else self.tick_ns
            out[name] = VcpuTime(
                totals[0],
                totals[1],
                totals[2],
                totals[3],
                guest,
                end - start,
                {RUNSTATES[s]: IntervalSummary.of_counts(spans[s]) for s in range(4)},
                v.woken_ns + (last if v.woken else 0),
                *v.ticks.totals(tick_ns),
            )
        return out


class _Cpu:
    """Spins and RUNNING intervals on one pCPU (:class:`LockWaitTracker`)."""

    __slots__ = ("open", "running", "spins")

    def __init__(self) -> None:
        self.open = 0  # spins begun (LOCK_CONTEND) and not yet acquired
        self.running: list[list[int]] = []  # [vcpu, start, end or -1]
        self.spins: list[list[int]] = []  # merged [start, end], clipped to the window


class LockWaitTracker:
    """:func:`lock_wait_in_running` (of every lock) as the events come (a
    :class:`~taskletsim.metrics.common.Tracker`): a pCPU's spins, from ``LOCK_CONTEND``
    to the contended ``LOCK_ACQUIRE``, against the RUNNING intervals of the vCPUs on it,
    settled whenever no spin is open there."""

    KINDS: ClassVar[tuple[EventKind, ...]] = (
        EventKind.LOCK_CONTEND,
        EventKind.LOCK_ACQUIRE,
        EventKind.RUNSTATE_CHANGE,
    )

    def __init__(self, start: int, end: int) -> None:
        self.start, self.end = start, end
        self.cpus: dict[int, _Cpu] = {}
        self.lock_wait: dict[int, int] = {}
        self.seen: set[int] = set()  # the vCPUs with a runstate
        self._running_on: dict[int, int] = {}  # vCPU -> the pCPU it is RUNNING on

    def _cpu(self, cpu: int) -> _Cpu:
        c = self.cpus.get(cpu)
        if c is None:
            c = self.cpus[cpu] = _Cpu()
        return c

    def consume(self, rows: Rows) -> None:
        start, end = self.start, self.end
        for t, c_id, k, s, a in zip(*rows, strict=True):
            if k == _CONTEND:
                self._cpu(c_id).open += 1
            elif k == _ACQUIRE:
                if a < 0:
                    continue  # uncontended: no spin
                c = self._cpu(c_id)
                c.open = c.open - 1 if c.open > 0 else 0
                lo = a if a > start else start
                hi = t if t < end else end
                if hi > lo:
                    spins = c.spins
                    while spins and spins[-1][1] >= lo:  # merge what this spin covers or touches
                        lo = min(lo, spins[-1][0])
                        hi = max(hi, spins[-1][1])
                        spins.pop()
                    spins.append([lo, hi])
                if not c.open:
                    self._settle(c)
            else:
                self.seen.add(s)
                on = self._running_on.pop(s, None)
                if on is not None:  # it leaves RUNNING
                    c = self.cpus[on]
                    for interval in reversed(c.running):
                        if interval[0] == s and interval[2] < 0:
                            interval[2] = t
                            break
                    if not c.open:
                        self._settle(c)
                if a == 0:
                    self._cpu(c_id).running.append([s, t, -1])
                    self._running_on[s] = c_id

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

    def waits(self, names: NameTable) -> dict[str, int]:
        """ns each vCPU with a runstate spent RUNNING while its pCPU spun (what
        :func:`lock_wait_in_running` gives); settles every pCPU: call it once, at the end."""
        for c in self.cpus.values():
            self._settle(c, final=True)
        vnames = names.names("vcpu")
        out = {vnames[vid]: 0 for vid in self.seen}
        for vid, ns in self.lock_wait.items():
            out[vnames[vid]] += ns
        return out


def _clip(a: int, b: int, start: int, end: int) -> int:
    """The length of ``[a, b)`` inside ``[start, end)``."""
    return max(min(b, end) - max(a, start), 0)


_VIRQ = int(EventKind.VIRQ_INJECT)
_VM_ENTRY = int(EventKind.VM_ENTRY)
_VM_EXIT = int(EventKind.VM_EXIT)
_CONTEND = int(EventKind.LOCK_CONTEND)
_ACQUIRE = int(EventKind.LOCK_ACQUIRE)
