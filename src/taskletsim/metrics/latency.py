"""Interrupt latency per source and stage, chained through trace order: from a trace
(:func:`irq_latency_split` and the functions over it) or as the events come
(:class:`LatencyTracker`)."""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..core.config import ConfigError
from ..core.events import EventKind
from ..core.trace import Trace, TraceMeta
from .common import Rows, needs, stable_order, window_bounds
from .counts import FromCounts, KeyedCounts, ValueCounts
from .entry_latency import irq_latency_from_entry

STAGES = ("handler", "tasklet", "virq")
"""Latency stages, each measured from the interrupt's raise: ``handler`` to its
``do_IRQ`` entry; ``tasklet`` to the entry of the first run of the deferred
work scheduled by it; ``virq`` to the first injection into the guest of the
source's virtual interrupt after that run."""

PERCENTILES = (50.0, 90.0, 99.0, 99.9)


@dataclass(frozen=True)
class Latency(FromCounts):
    """Latency summary in ns: exact order statistics (``method="inverted_cdf"``)."""

    count: int
    mean_ns: float
    p50_ns: float
    p90_ns: float
    p99_ns: float
    p999_ns: float
    max_ns: float

    @classmethod
    def of_counts(cls, counts: ValueCounts) -> Latency:
        """The summary of latencies held as value counts: the order statistics numpy's
        ``percentile(..., method="inverted_cdf")`` gives, the mean from the exact total."""
        n = counts.count
        if not n:
            return cls(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        p = counts.quantile(np.asarray(PERCENTILES) / 100)
        return cls(
            n,
            counts.total / n,
            float(p[0]),
            float(p[1]),
            float(p[2]),
            float(p[3]),
            float(counts.values[-1]),
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


def _by_key(
    rows: np.ndarray, key: np.ndarray, minor: np.ndarray, span: int
) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` ordered by (``key``, ``minor``, row), with their composite keys
    ``key * span + minor``. One radix sort by ``key`` (stable: rows stay in trace
    order within a key); a second, stable, sort only if ``minor`` does not already
    grow with the rows within each key."""
    order = stable_order(key)
    composite = key[order].astype(np.int64) * span + minor[order]
    rows = rows[order]
    if len(composite) > 1 and bool((composite[1:] < composite[:-1]).any()):
        fix = np.argsort(composite, kind="stable")
        composite, rows = composite[fix], rows[fix]
    return composite, rows


def _first_after(
    composite: np.ndarray, cand_row: np.ndarray, key: np.ndarray, after: np.ndarray, span: int
) -> np.ndarray:
    """For each query (``key``, ``after``), the first candidate row with the same key that
    comes after row ``after`` (-1: none, or when ``after`` is -1). The candidates are
    ordered by their ``composite`` keys ``key * span + row`` (see :func:`_by_key`); one
    search for all queries (fastest when the queries come in the same order)."""
    out = np.full(len(key), -1, dtype=np.int64)
    if not len(cand_row) or not len(key):
        return out
    base = key * span
    # a query with after == -1 asks for a row > -1 of key ... and is dropped below
    idx = np.searchsorted(composite, base + after, side="right")
    idx[idx == len(composite)] = len(composite) - 1  # then fails the test below
    found = composite[idx]
    # found > base + after >= base - 1: the same key iff it is below the next key's base
    hit = np.flatnonzero((found < base + span) & (found > base + after) & (after >= 0))
    out[hit] = cand_row[idx[hit]]
    return out


@dataclass(frozen=True)
class IrqChains:
    """Every raise in a window with the rows of its stages (-1: not reached): ``raise_row``,
    ``source``; ``handler`` (its ``IRQ_ENTRY``), ``tasklet`` (the ``TASKLET_ENTRY`` of
    the run of the work it scheduled), ``virq`` (the ``VIRQ_INJECT`` that delivered it);
    ``deferring[s]`` / ``injecting[s]``: whether source ``s`` has the stage at all."""

    raise_row: np.ndarray
    source: np.ndarray
    handler: np.ndarray
    tasklet: np.ndarray
    virq: np.ndarray
    deferring: np.ndarray
    injecting: np.ndarray

    def reordered(self, order: np.ndarray) -> IrqChains:
        """The same chains, the raises taken in ``order``."""
        return IrqChains(
            self.raise_row[order],
            self.source[order],
            self.handler[order],
            self.tasklet[order],
            self.virq[order],
            self.deferring,
            self.injecting,
        )


def irq_chains(
    trace: Trace,
    start_ns: int | None = None,
    end_ns: int | None = None,
    kinds: tuple[str, ...] | None = ("device", "timer"),
) -> IrqChains:
    """Each interrupt raised in the window (of a source of ``kinds``; ``None``: every
    source), chained to its stages through trace order: the handler entry with the
    raise's sequence number; the first ``TASKLET_SCHEDULE`` caused by the source
    after that entry, and the first entry of that tasklet after the schedule; the
    first ``VIRQ_INJECT`` of the source after that tasklet entry (after the handler
    entry for a source that defers nothing). Vectorised over every source at once.
    The raises come in trace order."""
    needs(
        trace, "irq_latency", EventKind.IRQ_RAISE, EventKind.IRQ_ENTRY, EventKind.TASKLET_SCHEDULE
    )
    chains = _chains_by_source(trace, *window_bounds(trace, start_ns, end_ns), kinds)
    return chains.reordered(np.argsort(chains.raise_row))


def _chains_by_source(
    trace: Trace, start: int, end: int, kinds: tuple[str, ...] | None
) -> IrqChains:
    """:func:`irq_chains` with the raises ordered by (source, row): every search then
    comes in the order of what it searches."""
    needs(
        trace, "irq_latency", EventKind.IRQ_RAISE, EventKind.IRQ_ENTRY, EventKind.TASKLET_SCHEDULE
    )
    subject, arg, time = trace.subject, trace.arg, trace.time_ns
    sources = trace.meta.irq
    nsources = len(sources)
    wanted = np.array([kinds is None or info.kind in kinds for info in sources] + [False])
    span = len(trace) + 1
    raises = trace.rows(EventKind.IRQ_RAISE)
    sid = subject[raises]
    t_raise = time[raises]
    keep = np.flatnonzero(
        wanted[np.minimum(sid, nsources)] & (sid >= 0) & (t_raise >= start) & (t_raise < end)
    )
    keep = keep[stable_order(sid[keep])]
    raises, sid = raises[keep], sid[keep].astype(np.int64)
    seq = arg[raises]
    # handler: the IRQ_ENTRY of the same source with the same sequence number
    entries = trace.rows(EventKind.IRQ_ENTRY)
    e_key, e_row = _by_key(entries, subject[entries], arg[entries], span)
    query = sid * span + seq
    idx = np.searchsorted(e_key, query)
    handler = np.full(len(raises), -1, dtype=np.int64)
    inside = np.flatnonzero(idx < len(e_key))
    hit = inside[e_key[idx[inside]] == query[inside]]
    handler[hit] = e_row[idx[hit]]
    # tasklet: the first TASKLET_SCHEDULE caused by the source after the handler, then the
    # first TASKLET_ENTRY of that tasklet after the schedule
    scheds = trace.rows(EventKind.TASKLET_SCHEDULE)
    cause = arg[scheds]
    s_key, s_row = _by_key(scheds, cause, scheds, span)
    sched = _first_after(s_key, s_row, sid, handler, span)
    t_entries = trace.rows(EventKind.TASKLET_ENTRY)
    r_key, r_row = _by_key(t_entries, subject[t_entries], t_entries, span)
    tasklet = subject[np.maximum(sched, 0)].astype(np.int64)
    run = _first_after(r_key, r_row, tasklet, sched, span)
    deferring = np.zeros(nsources + 1, dtype=bool)
    deferring[cause[(cause >= 0) & (cause < nsources)]] = True
    anchor = np.where(deferring[sid], run, handler)
    # virq: the first VIRQ_INJECT of the source after the anchor
    virqs = trace.rows(EventKind.VIRQ_INJECT)
    injected = subject[virqs]
    v_key, v_row = _by_key(virqs, injected, virqs, span)
    virq = _first_after(v_key, v_row, sid, anchor, span)
    injecting = np.zeros(nsources + 1, dtype=bool)
    injecting[injected[(injected >= 0) & (injected < nsources)]] = True
    return IrqChains(raises, sid, handler, run, virq, deferring, injecting)


def irq_latency_samples(
    trace: Trace,
    start_ns: int | None = None,
    end_ns: int | None = None,
    kinds: tuple[str, ...] = ("device", "timer"),
    censored: bool = False,
    origin: str = "raise",
) -> dict[str, dict[str, np.ndarray]]:
    """Per source and stage, the latency (ns) of every interrupt raised in the window,
    its stages found by :func:`irq_chains`. An interrupt whose stage had not happened
    by the end of the trace has no sample for it, unless ``censored``: then it
    counts with the time from its raise to the end of the window, a lower bound of
    its latency (what a saturated design that never delivers it must be charged).

    ``origin="entry"``: from each handler's entry instead, on the stages a real
    capture has too (:func:`~taskletsim.metrics.entry_latency.irq_latency_from_entry`;
    ``censored`` does not apply)."""
    if origin == "entry":
        if censored:
            raise ConfigError("censored", censored, "False with origin='entry'")
        return irq_latency_from_entry(trace, start_ns, end_ns, kinds)
    if origin != "raise":
        raise ConfigError("origin", origin, "'raise' or 'entry'")
    done, pending = irq_latency_split(trace, start_ns, end_ns, kinds)
    if not censored:
        return done
    return {
        source: {stage: np.concatenate([v, pending[source][stage]]) for stage, v in stages.items()}
        for source, stages in done.items()
    }


def irq_latency_split(
    trace: Trace,
    start_ns: int | None = None,
    end_ns: int | None = None,
    kinds: tuple[str, ...] = ("device", "timer"),
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, np.ndarray]]]:
    """Per source and stage, in one pass: the latencies of the interrupts raised in the
    window that reached the stage, and for those that had not by the end, the time
    from their raise to the end of the window."""
    start, end = window_bounds(trace, start_ns, end_ns)
    chains = _chains_by_source(trace, start, end, kinds)
    time = trace.time_ns
    sources = trace.meta.irq
    t_raise = time[chains.raise_row]
    bounds = np.concatenate([[0], np.cumsum(np.bincount(chains.source, minlength=len(sources)))])
    waiting = end - t_raise

    def stage(rows: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        r = rows[lo:hi]
        reached = r >= 0
        values: np.ndarray = time[r[reached]] - t_raise[lo:hi][reached]
        return values, waiting[lo:hi][~reached]

    done: dict[str, dict[str, np.ndarray]] = {}
    pending: dict[str, dict[str, np.ndarray]] = {}
    for s, info in enumerate(sources):
        if info.kind not in kinds:
            continue
        lo, hi = int(bounds[s]), int(bounds[s + 1])
        stages = {"handler": stage(chains.handler, lo, hi)}
        if chains.deferring[s]:
            stages["tasklet"] = stage(chains.tasklet, lo, hi)
        if chains.injecting[s]:
            stages["virq"] = stage(chains.virq, lo, hi)
        done[info.name] = {k: v[0] for k, v in stages.items()}
        pending[info.name] = {k: v[1] for k, v in stages.items()}
    return done, pending


def irq_latency(
    trace: Trace,
    start_ns: int | None = None,
    end_ns: int | None = None,
    kinds: tuple[str, ...] = ("device", "timer"),
    origin: str = "raise",
) -> dict[str, dict[str, Latency]]:
    """:class:`Latency` per source name and stage (see :func:`irq_latency_samples`),
    from each interrupt's raise or (``origin="entry"``) its handler's entry."""
    samples = irq_latency_samples(trace, start_ns, end_ns, kinds, origin=origin)
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
    kinds = {s.name: s.kind for s in trace.meta.irq}
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


# the tentative latencies gathered per source (key: source * 4 + column): to the handler,
# to the tasklet run, to the vIRQ after that run, to the vIRQ after the handler (which
# of the last two counts is known at the end: whether the source defers)
_HANDLER, _RUN, _VIRQ_RUN, _VIRQ_HANDLER = range(4)


class LatencyTracker:
    """:func:`irq_latency_split` as the events come (a
    :class:`~taskletsim.metrics.common.Tracker`), with each stage's latencies as counts of
    their values. An interrupt raised in the window is held (its raise time) only until
    every stage it can still reach has happened; one a stage never reaches stays held to
    the end, since its wait is what the censored statistics add."""

    KINDS: ClassVar[tuple[EventKind, ...]] = (
        EventKind.IRQ_RAISE,
        EventKind.IRQ_ENTRY,
        EventKind.TASKLET_SCHEDULE,
        EventKind.TASKLET_ENTRY,
        EventKind.VIRQ_INJECT,
    )

    def __init__(
        self, start: int, end: int, meta: TraceMeta, kinds: tuple[str, ...] = ("device", "timer")
    ) -> None:
        self.start, self.end, self.meta, self.kinds = start, end, meta, kinds
        self.samples = KeyedCounts()  # latencies, key source * 4 + column
        self.wait_entry: dict[tuple[int, int], int] = {}  # (source, seq) -> raise time
        self.wait_sched: dict[int, array[int]] = {}  # by source
        self.wait_run: dict[int, list[tuple[int, array[int]]]] = {}  # by tasklet: (source, ..)
        self.wait_virq_run: dict[int, array[int]] = {}  # by source
        self.wait_virq_handler: dict[int, array[int]] = {}
        self.deferring: set[int] = set()
        self.injecting: set[int] = set()
        self._wanted: list[bool] = []  # per IRQ source: is its latency measured

    def consume(self, rows: Rows) -> None:
        start, end, add = self.start, self.end, self.samples.add
        wanted = self._wanted
        if len(wanted) != len(self.meta.irq):  # sources are added as the host is built
            wanted = self._wanted = [s.kind in self.kinds for s in self.meta.irq]
        for t, _, k, s, a in zip(*rows, strict=True):
            if k == _RAISE:
                if start <= t < end and s < len(wanted) and wanted[s]:
                    self.wait_entry[(s, a)] = t
            elif k == _ENTRY:
                raised = self.wait_entry.pop((s, a), -1)
                if raised >= 0:
                    add(s * 4 + _HANDLER, t - raised)
                    _queue(self.wait_sched, s).append(raised)
                    _queue(self.wait_virq_handler, s).append(raised)
            elif k == _SCHEDULE:
                if a >= 0:
                    self.deferring.add(a)
                    waiting = self.wait_sched.pop(a, None)
                    if waiting:
                        self.wait_run.setdefault(s, []).append((a, waiting))
            elif k == _VIRQ:
                self.injecting.add(s)
                key = s * 4 + _VIRQ_RUN
                for raised in self.wait_virq_run.pop(s, ()):
                    add(key, t - raised)
                key = s * 4 + _VIRQ_HANDLER
                for raised in self.wait_virq_handler.pop(s, ()):
                    add(key, t - raised)
            else:
                groups = self.wait_run.pop(s, None)
                if groups:
                    for source, times in groups:
                        key = source * 4 + _RUN
                        for raised in times:
                            add(key, t - raised)
                        _queue(self.wait_virq_run, source).extend(times)

    def held(self) -> int:
        """How many raise times are held (interrupts still waiting for a stage): what the
        latency bookkeeping keeps beyond the counts."""
        queues = (self.wait_sched, self.wait_virq_run, self.wait_virq_handler)
        n = len(self.wait_entry) + sum(len(q) for qs in queues for q in qs.values())
        return n + sum(len(t) for groups in self.wait_run.values() for _, t in groups)

    def latency_split(
        self, meta: TraceMeta
    ) -> tuple[dict[str, dict[str, ValueCounts]], dict[str, dict[str, ValueCounts]]]:
        """Per source of the tracked kinds and stage: the latencies, and the waits of the
        interrupts that had not reached the stage by the end, as counts (what
        :func:`irq_latency_split` gives, counted)."""
        done: dict[str, dict[str, ValueCounts]] = {}
        pending: dict[str, dict[str, ValueCounts]] = {}
        for sid, info in enumerate(meta.irq):
            if info.kind in self.kinds:
                done[info.name], pending[info.name] = self._stages(sid)
        return done, pending

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


_RAISE = int(EventKind.IRQ_RAISE)
_ENTRY = int(EventKind.IRQ_ENTRY)
_SCHEDULE = int(EventKind.TASKLET_SCHEDULE)
_VIRQ = int(EventKind.VIRQ_INJECT)
