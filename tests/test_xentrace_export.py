"""Simulated runs written as xentrace and read back: the same runstate times, ns for ns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import taskletsim as ts
from taskletsim.capture import export_xentrace, import_xentrace
from taskletsim.capture.xenformat import LOCAL_TIMER_VECTOR
from taskletsim.core.config import ConfigError
from taskletsim.core.events import EventKind as K
from taskletsim.metrics.runstates import vcpu_times


@pytest.mark.parametrize("scenario", ["small-2socket", "xen-8socket-passthrough"])
def test_export_then_import_gives_the_same_vcpu_times(tmp_path: Path, scenario: str) -> None:
    trace = ts.run(scenario, design="xen-4.4-global", seed=2, duration_ms=15).trace
    out, vectors = tmp_path / "run.xentrace", tmp_path / "run.vectors"
    summary = export_xentrace(trace, out, 2.4e9, vector_map=vectors, window_records=100)
    back = import_xentrace(out, 2.4e9, vector_map=vectors)
    end = back.meta.duration_ns
    assert end is not None and end > 10_000_000
    ours, theirs = vcpu_times(trace, 0, end), vcpu_times(back, 0, end)
    assert len(ours) == len(theirs) > 0
    for name, vt in ours.items():
        assert theirs[summary.vcpus[name]].as_dict() == vt.as_dict(), name
    # the ticks kept their names, so the periodic-tick reading is the same too
    assert sum(vt.periodic_steal_ns + vt.periodic_other_ns for vt in ours.values()) > 0
    # every runstate change, VM entry and exit, injection and handled IRQ at the same ns;
    # the import adds each vCPU's state before its first record: offline, as Xen creates it
    b = back.rows(K.RUNSTATE_CHANGE)
    initial = b[: len(theirs)]
    assert (back.time_ns[initial] == 0).all() and (back.arg[initial] == 3).all()
    assert len(np.unique(back.subject[initial])) == len(theirs)
    for kind in (K.RUNSTATE_CHANGE, K.VM_ENTRY, K.VM_EXIT, K.VIRQ_INJECT, K.IRQ_EXIT):
        a, b = trace.rows(kind), back.rows(kind)
        a = a[trace.time_ns[a] <= end]
        b = b[len(theirs) :] if kind == K.RUNSTATE_CHANGE else b
        assert np.array_equal(np.sort(trace.time_ns[a]), np.sort(back.time_ns[b])), kind.name
    source = back.meta.source
    assert source is not None
    assert (
        source["counts"]["records"] == sum(summary.records.values()) + source["counts"]["windows"]
    )
    assert source["counts"]["windows"] > len(np.unique(back.cpu))  # windows of 100 records
    assert not source["warnings"]


def test_the_tick_gets_the_local_timer_vector(tmp_path: Path) -> None:
    trace = ts.run("small-2socket", design="rfc-percpu", seed=1, duration_ms=5).trace
    summary = export_xentrace(trace, tmp_path / "x", 3e9)
    ticks = {k: v for k, v in summary.vectors.items() if k[1].endswith(":timer")}
    assert ticks and set(ticks.values()) == {LOCAL_TIMER_VECTOR}
    assert all(0x30 <= v <= 0xFF for v in summary.vectors.values())


def test_a_wrong_cpu_hz_is_refused_before_writing(tmp_path: Path) -> None:
    trace = ts.run("small-2socket", design="rfc-percpu", seed=1, duration_ms=1).trace
    with pytest.raises(ConfigError, match="cpu_hz"):
        export_xentrace(trace, tmp_path / "x", 0)
    assert not (tmp_path / "x").exists()
