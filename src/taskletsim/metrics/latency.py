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
    sources = trace.meta.irq
    raises = np.flatnonzero(kind == EventKind.IRQ_RAISE)
    entries = np.flatnonzero(kind == EventKind.IRQ_ENTRY)
    scheds = np.flatnonzero(kind == EventKind.TASKLET_SCHEDULE)
    t_entries = np.flatnonzero(kind == EventKind.TASKLET_ENTRY)
    virqs = np.flatnonzero(kind == EventKind.VIRQ_INJECT)
    result: dict[str, dict[str, np.ndarray]] = {}
    for sid, info in enumerate(sources):
        if info.kind not in kinds:
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
        result[info.name] = stages
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
