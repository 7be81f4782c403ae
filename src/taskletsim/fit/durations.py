"""How long each handler, softirq and tasklet ran, as empirical distributions.

A fitted host replays what a trace measured instead of a constant cost: each
interrupt source's handler (``IRQ_ENTRY`` to the next ``IRQ_EXIT`` of the same
source on the same CPU), each softirq (``SOFTIRQ_ENTRY`` to the next
``SOFTIRQ_EXIT`` on that CPU) and each tasklet or work item (``TASKLET_ENTRY``
to its ``TASKLET_EXIT`` on that CPU). An entry whose exit is not in the trace is
left out. Work nested inside (a hard IRQ inside a softirq) is part of the
outer one's duration, as its wall time is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.events import EventKind
from ..core.source import trace_source
from ..core.trace import Trace


@dataclass(frozen=True)
class Empirical:
    """A duration's empirical distribution: its observed values in ns, sorted."""

    values: np.ndarray

    @property
    def count(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(self.values.mean()) if len(self.values) else 0.0

    def quantile(self, q: float) -> float:
        """The ``q`` quantile (``inverted_cdf``: an observed value)."""
        return float(np.quantile(self.values, q, method="inverted_cdf"))

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` draws with replacement from the observed values."""
        drawn: np.ndarray = rng.choice(self.values, size=size)
        return drawn

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: count, mean and percentiles (ns)."""
        if not len(self.values):
            return {"count": 0}
        return {
            "count": self.count,
            "mean_ns": self.mean,
            **{f"p{int(q * 100)}_ns": self.quantile(q) for q in (0.5, 0.9, 0.99)},
            "max_ns": float(self.values[-1]),
        }


def paired_rows(trace: Trace, entry: EventKind, exit_: EventKind) -> tuple[np.ndarray, np.ndarray]:
    """The rows of each entry and of the next exit of the same subject on the same CPU
    (entries with none left out), in (CPU, subject, time) order."""
    rows = trace.of_kinds(entry, exit_)
    key = trace.cpu[rows].astype(np.int64) << 32 | trace.subject[rows].astype(np.int64)
    order = np.argsort(key, kind="stable")
    rows, key = rows[order], key[order]
    is_entry = trace.kind[rows] == entry
    paired = np.flatnonzero(is_entry[:-1] & ~is_entry[1:] & (key[1:] == key[:-1]))
    return rows[paired], rows[paired + 1]


def _spans(trace: Trace, entry: EventKind, exit_: EventKind) -> tuple[np.ndarray, np.ndarray]:
    """Each entry's subject and its time to the next exit of the same subject on the same
    CPU (entries with none left out)."""
    first, second = paired_rows(trace, entry, exit_)
    span: np.ndarray = trace.time_ns[second] - trace.time_ns[first]
    return trace.subject[first], span


def _by_name(subjects: np.ndarray, spans: np.ndarray, names: list[str]) -> dict[str, Empirical]:
    out: dict[str, Empirical] = {}
    for s in np.unique(subjects).tolist():
        name = names[s] if 0 <= s < len(names) else str(s)
        out[name] = Empirical(np.sort(spans[subjects == s]))
    return out


def fit_durations(trace: Trace) -> dict[str, dict[str, Empirical]]:
    """``handler`` per IRQ source, ``softirq`` per softirq, ``tasklet`` per tasklet or work
    item: the empirical distribution of each one's run, for what the trace's source
    records."""
    source = trace_source(trace.meta.source)
    kinds = {
        "handler": (EventKind.IRQ_ENTRY, EventKind.IRQ_EXIT, [i.name for i in trace.meta.irq]),
        "softirq": (EventKind.SOFTIRQ_ENTRY, EventKind.SOFTIRQ_EXIT, list(trace.meta.softirqs)),
        "tasklet": (EventKind.TASKLET_ENTRY, EventKind.TASKLET_EXIT, trace.names.names("tasklet")),
    }
    out: dict[str, dict[str, Empirical]] = {}
    for what, (entry, exit_, names) in kinds.items():
        if source is not None and not (source.covers(entry) and source.covers(exit_)):
            continue
        out[what] = _by_name(*_spans(trace, entry, exit_), names)
    return out
