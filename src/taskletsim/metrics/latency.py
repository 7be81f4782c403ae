"""Interrupt latency per source and stage, chained through trace order."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.trace import EventKind, Trace
from .common import window_bounds

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


def _first_after(
    cand_key: np.ndarray, cand_row: np.ndarray, key: np.ndarray, after: np.ndarray, span: int
) -> np.ndarray:
    """For each query (``key``, ``after``), the first candidate row with the same key that
    comes after row ``after`` (-1: none, or when ``after`` is -1). The candidates are
    ordered by (key, row); one search for all queries through the composite key
    ``key * span + row``."""
    out = np.full(len(key), -1, dtype=np.int64)
    ok = after >= 0
    if not len(cand_row) or not ok.any():
        return out
    composite = cand_key * span + cand_row
    idx = np.searchsorted(composite, key[ok] * span + after[ok], side="right")
    found = np.full(len(idx), -1, dtype=np.int64)
    inside = idx < len(composite)
    same = np.zeros(len(idx), dtype=bool)
    same[inside] = cand_key[idx[inside]] == key[ok][inside]
    found[same] = cand_row[idx[same]]
    out[ok] = found
    return out


def _by_key(rows: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` and their ``keys``, ordered by (key, row)."""
    order = np.argsort(keys, kind="stable")
    return keys[order].astype(np.int64), rows[order]


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
    entry for a source that defers nothing). Vectorised over every source at once."""
    start, end = window_bounds(trace, start_ns, end_ns)
    subject, arg, time = trace.subject, trace.arg, trace.time_ns
    sources = trace.meta.irq
    wanted = np.array([kinds is None or info.kind in kinds for info in sources] + [False])
    span = len(trace) + 1
    raises = trace.rows(EventKind.IRQ_RAISE)
    sid = subject[raises].astype(np.int64)
    t_raise = time[raises]
    keep = wanted[np.minimum(sid, len(sources))] & (t_raise >= start) & (t_raise < end)
    raises, sid = raises[keep], sid[keep]
    seq = arg[raises]
    # handler: the IRQ_ENTRY of the same source with the same sequence number
    entries = trace.rows(EventKind.IRQ_ENTRY)
    e_key, e_row = _by_key(entries, subject[entries].astype(np.int64) * span + arg[entries])
    idx = np.searchsorted(e_key, sid * span + seq)
    hit = idx < len(e_key)
    hit[hit] = e_key[idx[hit]] == (sid * span + seq)[hit]
    handler = np.full(len(raises), -1, dtype=np.int64)
    if len(e_row):
        handler = np.where(hit, e_row[np.minimum(idx, len(e_row) - 1)], -1)
    # tasklet: the first TASKLET_SCHEDULE caused by the source after the handler, then the
    # first TASKLET_ENTRY of that tasklet after the schedule
    scheds = trace.rows(EventKind.TASKLET_SCHEDULE)
    s_key, s_row = _by_key(scheds, arg[scheds])
    sched = _first_after(s_key, s_row, sid, handler, span)
    t_entries = trace.rows(EventKind.TASKLET_ENTRY)
    r_key, r_row = _by_key(t_entries, subject[t_entries].astype(np.int64))
    tasklet = subject[np.maximum(sched, 0)].astype(np.int64)
    run = _first_after(r_key, r_row, tasklet, sched, span)
    deferring = np.zeros(len(sources) + 1, dtype=bool)
    deferring[np.unique(s_key[(s_key >= 0) & (s_key < len(sources))])] = True
    anchor = np.where(deferring[sid], run, handler)
    # virq: the first VIRQ_INJECT of the source after the anchor
    virqs = trace.rows(EventKind.VIRQ_INJECT)
    v_key, v_row = _by_key(virqs, subject[virqs].astype(np.int64))
    virq = _first_after(v_key, v_row, sid, anchor, span)
    injecting = np.zeros(len(sources) + 1, dtype=bool)
    injecting[np.unique(v_key[(v_key >= 0) & (v_key < len(sources))])] = True
    return IrqChains(raises, sid, handler, run, virq, deferring, injecting)


def irq_latency_samples(
    trace: Trace,
    start_ns: int | None = None,
    end_ns: int | None = None,
    kinds: tuple[str, ...] = ("device", "timer"),
    censored: bool = False,
) -> dict[str, dict[str, np.ndarray]]:
    """Per source and stage, the latency (ns) of every interrupt raised in the window,
    its stages found by :func:`irq_chains`. An interrupt whose stage had not happened
    by the end of the trace has no sample for it, unless ``censored``: then it
    counts with the time from its raise to the end of the window, a lower bound of
    its latency (what a saturated design that never delivers it must be charged)."""
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
    chains = irq_chains(trace, start, end, kinds)
    time = trace.time_ns
    sources = trace.meta.irq
    sid = chains.source
    t_raise = time[chains.raise_row]
    order = np.argsort(sid, kind="stable")
    bounds = np.searchsorted(sid[order], np.arange(len(sources) + 1))
    waiting = end - t_raise

    def stage(rows: np.ndarray, mine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = rows[mine]
        reached = r >= 0
        values: np.ndarray = time[r[reached]] - t_raise[mine][reached]
        return values, waiting[mine][~reached]

    done: dict[str, dict[str, np.ndarray]] = {}
    pending: dict[str, dict[str, np.ndarray]] = {}
    for s, info in enumerate(sources):
        if info.kind not in kinds:
            continue
        mine = order[bounds[s] : bounds[s + 1]]
        stages = {"handler": stage(chains.handler, mine)}
        if chains.deferring[s]:
            stages["tasklet"] = stage(chains.tasklet, mine)
        if chains.injecting[s]:
            stages["virq"] = stage(chains.virq, mine)
        done[info.name] = {k: v[0] for k, v in stages.items()}
        pending[info.name] = {k: v[1] for k, v in stages.items()}
    return done, pending


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
