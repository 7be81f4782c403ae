"""Every metric on a trace from each source: it reads what the source can record, and
refuses, naming the kinds and the source, what it cannot (never zeros)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import taskletsim as ts
from taskletsim.capture import import_ftrace, import_xentrace
from taskletsim.core.config import ConfigError
from taskletsim.core.trace import Trace
from taskletsim.metrics import (
    class_times,
    contention_stats,
    domain_times,
    irq_counts,
    irq_latency,
    lock_stats,
    measure,
    vcpu_times,
)
from taskletsim.metrics.locks import lock_wait_histograms
from taskletsim.metrics.runstates import lock_wait_in_running

DATA = Path(__file__).parent / "data"


def entry_latency(trace: Trace) -> Any:
    return irq_latency(trace, kinds=None, origin="entry")


METRICS: dict[str, Callable[[Trace], Any]] = {
    "vcpu_times": vcpu_times,
    "domain_times": domain_times,
    "class_times": class_times,
    "lock_stats": lock_stats,
    "lock_wait_histograms": lock_wait_histograms,
    "lock_wait_in_running": lock_wait_in_running,
    "contention_stats": contention_stats,
    "irq_counts": irq_counts,
    "irq_latency": irq_latency,
    "irq_latency_entry": entry_latency,
    "measure": measure,
}

# what each source cannot give: the kinds the refusal names (None: the metric reads)
REFUSED: dict[str, dict[str, str | None]] = {
    "xentrace": {
        "vcpu_times": None,
        "domain_times": None,
        "class_times": None,
        "lock_stats": "LOCK_CONTEND, LOCK_ACQUIRE, LOCK_RELEASE",
        "lock_wait_histograms": "LOCK_CONTEND, LOCK_ACQUIRE",
        "lock_wait_in_running": "LOCK_CONTEND, LOCK_ACQUIRE",
        "contention_stats": "LOCK_CONTEND, LOCK_ACQUIRE",
        "irq_counts": "IRQ_RAISE, IRQ_COALESCE",
        "irq_latency": "IRQ_RAISE, TASKLET_SCHEDULE",
        "irq_latency_entry": None,
        "measure": "IRQ_RAISE, TASKLET_SCHEDULE",
    },
    "perf": {  # a Linux host: tasks' runstates need no VM events, but this capture has none
        "vcpu_times": "RUNSTATE_CHANGE",
        "domain_times": "RUNSTATE_CHANGE",
        "class_times": "RUNSTATE_CHANGE",
        "lock_stats": "LOCK_RELEASE",
        "lock_wait_histograms": None,
        "lock_wait_in_running": "RUNSTATE_CHANGE",
        "contention_stats": None,
        "irq_counts": "IRQ_RAISE, IRQ_COALESCE, VIRQ_INJECT",
        "irq_latency": "IRQ_RAISE, TASKLET_SCHEDULE",
        "irq_latency_entry": None,
        "measure": "IRQ_RAISE, TASKLET_SCHEDULE",
    },
}

TRACES: dict[str, Callable[[], Trace]] = {
    "xentrace": lambda: import_xentrace(DATA / "xentrace" / "sample.xentrace", 2.4e9),
    "perf": lambda: import_ftrace(DATA / "ftrace" / "capture-perf-script.txt"),
}


@pytest.fixture(scope="module", params=sorted(TRACES))
def imported(request: pytest.FixtureRequest) -> tuple[str, Trace]:
    return request.param, TRACES[request.param]()


@pytest.mark.parametrize("metric", sorted(METRICS))
def test_each_metric_reads_or_refuses_by_the_sources_coverage(
    imported: tuple[str, Trace], metric: str
) -> None:
    source, trace = imported
    missing = REFUSED[source][metric]
    if missing is None:
        METRICS[metric](trace)
        return
    file = trace.meta.source["file"] if trace.meta.source else ""
    with pytest.raises(ConfigError, match=rf"{missing} events; a {source} capture \({file}\)"):
        METRICS[metric](trace)


def test_a_simulated_trace_has_every_kind() -> None:
    trace = ts.run("small-2socket", design="linux", seed=1, duration_ms=3).trace
    for metric in METRICS.values():
        metric(trace)
