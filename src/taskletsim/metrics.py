"""Metrics: pure, vectorised functions of a :class:`~taskletsim.trace.Trace`.

Nothing here imports the model: a saved trace can be analysed without
re-running it. Every function takes an observation window ``[start_ns,
end_ns)``; an event counts when it happens inside it (for a lock, the
acquisition's time decides).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .trace import EventKind, Trace


@dataclass(frozen=True)
class Summary:
    """count, min, mean, max, total of a set of durations in ns (all 0 if empty)."""

    count: int
    min: int
    mean: float
    max: int
    total: int

    @classmethod
    def of(cls, values: np.ndarray) -> Summary:
        if len(values) == 0:
            return cls(0, 0, 0.0, 0, 0)
        total = int(values.sum())
        return cls(len(values), int(values.min()), total / len(values), int(values.max()), total)

    def as_dict(self) -> dict[str, float | int]:
        """The JSON form: ``min``, ``mean``, ``max``, ``total``."""
        return {"min": self.min, "mean": self.mean, "max": self.max, "total": self.total}


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


def window_bounds(trace: Trace, start_ns: int | None, end_ns: int | None) -> tuple[int, int]:
    """Resolve a window: default start 0, default end the run's duration."""
    start = 0 if start_ns is None else int(start_ns)
    if end_ns is not None:
        end = int(end_ns)
    elif "duration_ns" in trace.meta:
        end = int(trace.meta["duration_ns"])
    else:
        end = int(trace.time_ns[-1]) + 1 if len(trace) else 0
    if end < start:
        raise ValueError(f"window end {end} is before its start {start}")
    return start, end


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
    socket_of = np.asarray(trace.meta.get("cpu_socket", []), dtype=np.int64)
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


STAGES = ("handler", "tasklet", "virq")
"""Latency stages, each measured from the interrupt's raise: ``handler`` to its
``do_IRQ`` entry; ``tasklet`` to the entry of the first run of the deferred
work scheduled by it; ``virq`` to the first injection into the guest of the
source's virtual interrupt after that run."""

PERCENTILES = (50.0, 90.0, 99.0, 99.9)


@dataclass(frozen=True)
class Latency:
    """Latency summary in ns: exact order statistics (``method="inverted_cdf"``)."""

    count: int
    mean_ns: float
    p50_ns: float
    p90_ns: float
    p99_ns: float
    p999_ns: float
    max_ns: float

    @classmethod
    def of(cls, values: np.ndarray) -> Latency:
        if len(values) == 0:
            return cls(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        p = np.percentile(values, PERCENTILES, method="inverted_cdf")
        return cls(
            len(values),
            float(values.mean()),
            float(p[0]),
            float(p[1]),
            float(p[2]),
            float(p[3]),
            float(values.max()),
        )

    def as_dict(self) -> dict[str, float | int]:
        """The JSON form (``count``, ``mean_ns``, ``p50_ns`` ... ``max_ns``)."""
        return {
            "count": self.count,
            "mean_ns": self.mean_ns,
            "p50_ns": self.p50_ns,
            "p90_ns": self.p90_ns,
            "p99_ns": self.p99_ns,
            "p999_ns": self.p999_ns,
            "max_ns": self.max_ns,
        }


def _first_after(candidates: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """For each anchor row, the first candidate row after it (-1: none). Both sorted rows."""
    idx = np.searchsorted(candidates, anchors, side="right")
    out = np.full(len(anchors), -1, dtype=np.int64)
    ok = idx < len(candidates)
    out[ok] = candidates[idx[ok]]
    return out


def irq_latency_samples(
    trace: Trace,
    start_ns: int | None = None,
    end_ns: int | None = None,
    kinds: tuple[str, ...] = ("device", "timer"),
    censored: bool = False,
) -> dict[str, dict[str, np.ndarray]]:
    """Per source and stage, the latency (ns) of every interrupt raised in the window.

    Stages are chained through trace order: the handler entry with the
    raise's sequence number; the first ``TASKLET_SCHEDULE`` caused by the
    source after that entry, and the first entry of that tasklet after the
    schedule; the first ``VIRQ_INJECT`` of the source after that tasklet
    entry (after the handler entry for a source that defers nothing). An
    interrupt whose stage had not happened by the end of the trace has no
    sample for it, unless ``censored``: then it counts with the time from its
    raise to the end of the window, a lower bound of its latency (what a
    saturated design that never delivers it must be charged).
    """
    start, end = window_bounds(trace, start_ns, end_ns)
    kind, subject, arg, time = trace.kind, trace.subject, trace.arg, trace.time_ns
    sources = trace.meta.get("irq", [])
    raises = np.flatnonzero(kind == EventKind.IRQ_RAISE)
    entries = np.flatnonzero(kind == EventKind.IRQ_ENTRY)
    scheds = np.flatnonzero(kind == EventKind.TASKLET_SCHEDULE)
    t_entries = np.flatnonzero(kind == EventKind.TASKLET_ENTRY)
    virqs = np.flatnonzero(kind == EventKind.VIRQ_INJECT)
    result: dict[str, dict[str, np.ndarray]] = {}
    for sid, info in enumerate(sources):
        if info["kind"] not in kinds:
            continue
        mine = raises[subject[raises] == sid]
        t_raise = time[mine]
        inside = (t_raise >= start) & (t_raise < end)
        mine, t_raise = mine[inside], t_raise[inside]
        entry_rows = entries[subject[entries] == sid]
        by_seq = np.full(int(arg[mine].max()) + 1 if len(mine) else 0, -1, dtype=np.int64)
        seqs = arg[entry_rows]
        keep = seqs < len(by_seq)
        by_seq[seqs[keep]] = entry_rows[keep]
        handler_row = by_seq[arg[mine]] if len(mine) else np.zeros(0, dtype=np.int64)
        handled = handler_row >= 0
        pending = end - t_raise

        def stage_of(
            rows: np.ndarray, t_raise: np.ndarray = t_raise, pending: np.ndarray = pending
        ) -> np.ndarray:
            done = rows >= 0
            values: np.ndarray = time[rows[done]] - t_raise[done]
            return np.concatenate([values, pending[~done]]) if censored else values

        stages = {"handler": stage_of(handler_row)}
        anchor = handler_row.copy()
        my_scheds = scheds[arg[scheds] == sid]
        if len(my_scheds):
            sched_row = np.where(handled, _first_after(my_scheds, handler_row), -1)
            run_row = np.full(len(mine), -1, dtype=np.int64)
            for tasklet in np.unique(subject[sched_row[sched_row >= 0]]):
                runs = t_entries[subject[t_entries] == tasklet]
                sel = (sched_row >= 0) & (subject[np.maximum(sched_row, 0)] == tasklet)
                run_row[sel] = _first_after(runs, sched_row[sel])
            stages["tasklet"] = stage_of(run_row)
            anchor = run_row
        my_virqs = virqs[subject[virqs] == sid]
        if len(my_virqs):
            ok = anchor >= 0
            virq_row = np.full(len(mine), -1, dtype=np.int64)
            virq_row[ok] = _first_after(my_virqs, anchor[ok])
            stages["virq"] = stage_of(virq_row)
        result[info["name"]] = stages
    return result


def irq_latency(
    trace: Trace,
    start_ns: int | None = None,
    end_ns: int | None = None,
    kinds: tuple[str, ...] = ("device", "timer"),
) -> dict[str, dict[str, Latency]]:
    """:class:`Latency` per source name and stage (see :func:`irq_latency_samples`)."""
    samples = irq_latency_samples(trace, start_ns, end_ns, kinds)
    return {
        source: {stage: Latency.of(values) for stage, values in stages.items()}
        for source, stages in samples.items()
    }


def latency_histogram(
    values: np.ndarray, bins: int | np.ndarray = 40
) -> tuple[np.ndarray, np.ndarray]:
    """Counts and bin edges (ns) of latencies; an int gives log-spaced bins."""
    if isinstance(bins, int):
        low = max(float(values.min()) if len(values) else 1.0, 1.0)
        high = max(float(values.max()) if len(values) else 2.0, low * 2)
        bins = np.geomspace(low, high * 1.000001, bins + 1)
    counts, edges = np.histogram(values, bins=bins)
    return counts, edges


def irq_latency_by_kind(
    trace: Trace,
    start_ns: int | None = None,
    end_ns: int | None = None,
    group: dict[str, str] | None = None,
    censored: bool = False,
) -> dict[str, dict[str, Latency]]:
    """Latency per group of sources and stage; by default sources are grouped by kind.

    ``group`` maps a source name to its group (e.g. ``"busy-guest msi"``);
    sources it does not name fall back to their kind.
    """
    kinds = {s["name"]: s["kind"] for s in trace.meta.get("irq", [])}
    pooled: dict[str, dict[str, list[np.ndarray]]] = {}
    samples = irq_latency_samples(trace, start_ns, end_ns, censored=censored)
    for source, stages in samples.items():
        key = (group or {}).get(source, kinds[source])
        for stage, values in stages.items():
            pooled.setdefault(key, {}).setdefault(stage, []).append(values)
    return {
        key: {stage: Latency.of(np.concatenate(parts)) for stage, parts in stages.items()}
        for key, stages in pooled.items()
    }


RUNSTATES = ("running", "runnable", "blocked", "offline")


@dataclass(frozen=True)
class IntervalSummary:
    """xenalyze-style summary of one runstate's intervals (clipped to the window)."""

    count: int
    total_ns: int
    p5_ns: float
    p50_ns: float
    p95_ns: float

    @classmethod
    def of(cls, values: np.ndarray) -> IntervalSummary:
        if len(values) == 0:
            return cls(0, 0, 0.0, 0.0, 0.0)
        p = np.percentile(values, (5.0, 50.0, 95.0), method="inverted_cdf")
        return cls(len(values), int(values.sum()), float(p[0]), float(p[1]), float(p[2]))


@dataclass(frozen=True)
class VcpuTime:
    """Where a vCPU's (or a domain's) wall time went, in ns over the window.

    ``running_ns`` includes the hypervisor's work done while it was current
    (VM exits, softirqs and tasklets on the VM-entry path), as Xen counts it;
    ``hv_ns`` is that part (RUNNING minus guest mode, VM entry to VM exit).
    Steal is runnable + offline, as Linux's ``xen_steal_clock``.
    """

    running_ns: int
    runnable_ns: int
    blocked_ns: int
    offline_ns: int
    guest_ns: int
    window_ns: int
    intervals: dict[str, IntervalSummary]

    @property
    def hv_ns(self) -> int:
        return self.running_ns - self.guest_ns

    @property
    def steal_pct(self) -> float:
        total = self.running_ns + self.runnable_ns + self.blocked_ns + self.offline_ns
        return 100.0 * (self.runnable_ns + self.offline_ns) / total if total else 0.0

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
            "steal_pct": self.steal_pct,
            "hv_pct": self.hv_pct,
        }


def _clipped(starts: np.ndarray, ends: np.ndarray, start: int, end: int) -> np.ndarray:
    """Length of each interval [starts, ends) inside the window [start, end)."""
    spans: np.ndarray = np.maximum(np.minimum(ends, end) - np.maximum(starts, start), 0)
    return spans


def vcpu_times(
    trace: Trace, start_ns: int | None = None, end_ns: int | None = None
) -> dict[str, VcpuTime]:
    """Runstate time, guest time and interval summaries of every guest vCPU.

    Built from ``RUNSTATE_CHANGE`` (every guest vCPU has one at time 0) and
    ``VM_ENTRY``/``VM_EXIT`` events. The four runstates of a vCPU add up to
    the window exactly.
    """
    start, end = window_bounds(trace, start_ns, end_ns)
    names = trace.names.names("vcpu")
    rows = np.flatnonzero(trace.kind == EventKind.RUNSTATE_CHANGE)
    order = np.argsort(trace.subject[rows], kind="stable")
    rows = rows[order]
    subject = trace.subject[rows]
    t = trace.time_ns[rows]
    state = trace.arg[rows]
    last = np.r_[subject[1:] != subject[:-1], True]
    t_next = np.where(last, end, np.r_[t[1:], end])
    spans = _clipped(t, np.maximum(t_next, t), start, end)
    guest = _guest_time(trace, start, end, len(names))
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
        result[name] = VcpuTime(
            int(totals[0]),
            int(totals[1]),
            int(totals[2]),
            int(totals[3]),
            int(guest[vid]),
            end - start,
            intervals,
        )
    return result


def _guest_time(trace: Trace, start: int, end: int, nvcpus: int) -> np.ndarray:
    """ns each vCPU spent in guest mode (VM entry to the next VM exit) in the window."""
    rows = trace.of_kinds(EventKind.VM_ENTRY, EventKind.VM_EXIT)
    order = np.argsort(trace.subject[rows], kind="stable")
    rows = rows[order]
    subject = trace.subject[rows]
    is_entry = trace.kind[rows] == EventKind.VM_ENTRY
    t = trace.time_ns[rows]
    follows = np.r_[subject[1:] == subject[:-1], False]
    paired = is_entry & np.r_[~is_entry[1:], False] & follows
    open_end = is_entry & ~paired & ~np.r_[follows[:]]
    spans = np.zeros(len(rows), dtype=np.int64)
    idx = np.flatnonzero(paired)
    spans[idx] = _clipped(t[idx], t[idx + 1], start, end)
    spans[open_end] = _clipped(t[open_end], np.full(int(open_end.sum()), end), start, end)
    return np.bincount(subject, weights=spans, minlength=nvcpus).astype(np.int64)


def domain_times(
    trace: Trace, start_ns: int | None = None, end_ns: int | None = None
) -> dict[str, VcpuTime]:
    """:func:`vcpu_times` summed over each domain's vCPUs."""
    per_vcpu = vcpu_times(trace, start_ns, end_ns)
    owners = trace.meta.get("vcpus", {})
    grouped: dict[str, list[VcpuTime]] = {}
    for name, times in per_vcpu.items():
        grouped.setdefault(owners.get(name, {}).get("domain", name), []).append(times)
    return {name: _sum_times(parts) for name, parts in grouped.items()}


def _sum_times(parts: list[VcpuTime]) -> VcpuTime:
    return VcpuTime(
        sum(p.running_ns for p in parts),
        sum(p.runnable_ns for p in parts),
        sum(p.blocked_ns for p in parts),
        sum(p.offline_ns for p in parts),
        sum(p.guest_ns for p in parts),
        sum(p.window_ns for p in parts),
        {},
    )


def class_times(
    trace: Trace, start_ns: int | None = None, end_ns: int | None = None
) -> dict[str, VcpuTime]:
    """:func:`vcpu_times` summed over each guest class (the vCPUs' workload)."""
    per_vcpu = vcpu_times(trace, start_ns, end_ns)
    owners = trace.meta.get("vcpus", {})
    grouped: dict[str, list[VcpuTime]] = {}
    for name, times in per_vcpu.items():
        grouped.setdefault(owners.get(name, {}).get("workload", "?"), []).append(times)
    return {name: _sum_times(parts) for name, parts in grouped.items()}
