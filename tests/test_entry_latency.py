"""Interrupt latency from the handler's entry: the stages a capture has too, found the same
way on a simulation and on a capture."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

import taskletsim as ts
from taskletsim.capture import import_ftrace, import_xentrace
from taskletsim.capture.xenformat import TRC_HVM_INJ_VIRQ, TRC_HW_IRQ_HANDLED, TRC_LOST_RECORDS
from taskletsim.core.config import ConfigError
from taskletsim.metrics import irq_latency
from taskletsim.metrics.latency import irq_chains, irq_latency_samples

from .helpers import rec, runstate, window

DATA = Path(__file__).parent / "data" / "ftrace"

TASKLET_IN_SOFTIRQ = """\
 swapper 0 [001] 100.000001000: irq:irq_handler_entry: irq=40 name=nic0
 swapper 0 [001] 100.000001500: irq:softirq_raise: vec=6 [action=TASKLET]
 swapper 0 [001] 100.000002000: irq:irq_handler_exit: irq=40 ret=handled
 swapper 0 [000] 100.000002100: irq:tasklet_entry: tasklet=0xffff000000000001 function=other
 swapper 0 [001] 100.000002500: irq:softirq_entry: vec=6 [action=TASKLET]
 swapper 0 [001] 100.000003000: irq:tasklet_entry: tasklet=0xffff000000000002 function=nic0_rx
 swapper 0 [001] 100.000004000: irq:tasklet_exit: tasklet=0xffff000000000002 function=nic0_rx
 swapper 0 [001] 100.000004100: irq:softirq_exit: vec=6 [action=TASKLET]
 swapper 0 [001] 100.000010000: irq:irq_handler_entry: irq=40 name=nic0
 swapper 0 [001] 100.000011000: irq:irq_handler_exit: irq=40 ret=handled
 swapper 0 [001] 100.000012000: irq:softirq_entry: vec=7 [action=SCHED]
 swapper 0 [001] 100.000012500: irq:softirq_exit: vec=7 [action=SCHED]
"""


def test_a_handler_its_softirq_and_the_tasklet_inside_it(tmp_path: Path) -> None:
    path = tmp_path / "perf.txt"
    path.write_text(TASKLET_IN_SOFTIRQ)
    samples = irq_latency_samples(import_ftrace(path), kinds=None, origin="entry")
    # the second handler raised nothing: it has no softirq stage, though one ran after it
    assert {k: v.tolist() for k, v in samples["irq40:nic0"].items()} == {
        "softirq": [1500],  # its softirq, not the tasklet another CPU ran before
        "tasklet": [2000],
    }


def test_the_hand_written_perf_lines(tmp_path: Path) -> None:
    trace = import_ftrace(DATA / "hand-perf-script.txt")
    latency = irq_latency(trace, kinds=None, origin="entry")
    assert latency["irq36:virtio1-req.0"]["softirq"].p50_ns == 11227
    assert latency["irq36:virtio1-req.0"]["tasklet"].count == 0  # no TASKLET softirq
    assert "virq" not in latency["irq36:virtio1-req.0"]  # Linux has no injection


def handled_then_injected(tmp_path: Path, *more: bytes) -> Path:
    """d1v0 running on pCPU 0, Xen's IRQ 40 handled from 1100 to 1200, vector 0x30
    injected at 1300 (TSC at 1 GHz), then ``more`` records."""
    path = tmp_path / "x.xentrace"
    path.write_bytes(
        window(
            0,
            runstate(1, 0, 1, 0, 1000),
            rec(TRC_HW_IRQ_HANDLED, [40, 1100, 1200], 1210),
            rec(TRC_HVM_INJ_VIRQ, [0x30, 0], 1300),
            *more,
        )
    )
    return path


def test_a_xentrace_capture_has_the_virq_stage_only(tmp_path: Path) -> None:
    path = handled_then_injected(tmp_path)
    samples = irq_latency_samples(import_xentrace(path, 1e9), kinds=None, origin="entry")
    assert {k: v.tolist() for k, v in samples["irq40"].items()} == {"virq": [200]}


def test_a_stage_found_across_lost_records_is_not_measured(tmp_path: Path) -> None:
    path = handled_then_injected(
        tmp_path,
        rec(TRC_HW_IRQ_HANDLED, [40, 1400, 1450], 1460),
        rec(TRC_LOST_RECORDS, [3, 0, 1500, 0], 1600),  # lost from 1500 to 1600
        rec(TRC_HVM_INJ_VIRQ, [0x30, 0], 1700),
    )
    samples = irq_latency_samples(import_xentrace(path, 1e9), kinds=None, origin="entry")
    assert samples["irq40"]["virq"].tolist() == [200]  # not the second's 300: lost between


@pytest.mark.parametrize("design", ["xen-4.4-global", "rfc-percpu", "xen-4.6-dpci", "linux"])
def test_on_a_simulation_the_stages_are_the_causal_chains_from_the_handler(design: str) -> None:
    """On small-2socket, where each pCPU has one device, the stages found from the events
    alone are those the causal chains give, measured from the handler's entry, but for
    the rare tasklet that ran in a later softirq than the one its handler raised."""
    trace = ts.run("small-2socket", design=design, seed=1, duration_ms=20).trace
    chains, t = irq_chains(trace), trace.time_ns
    found = irq_latency_samples(trace, origin="entry")
    checked = missed = 0
    for sid, info in enumerate(trace.meta.irq):
        if info.kind != "device":
            continue
        for stage, rows in (("tasklet", chains.tasklet), ("virq", chains.virq)):
            sel = (chains.source == sid) & (chains.handler >= 0) & (rows >= 0)
            expected = Counter((t[rows[sel]] - t[chains.handler[sel]]).tolist())
            ours = Counter(found[info.name][stage].tolist())
            assert not ours - expected, (info.name, stage)  # nothing the chains lack
            missed += sum((expected - ours).values())
            checked += sum(expected.values())
    assert checked > 1000 and missed <= 2


def test_bad_origins_are_refused() -> None:
    trace = ts.run("small-2socket", design="linux", seed=1, duration_ms=2).trace
    with pytest.raises(ConfigError, match="origin"):
        irq_latency(trace, origin="handler")
    with pytest.raises(ConfigError, match="censored"):
        irq_latency_samples(trace, censored=True, origin="entry")
