"""A real capture (tests/data/xentrace, see PROVENANCE.md) read as xenalyze reads it."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from taskletsim.capture import import_xentrace
from taskletsim.core.events import EventKind as K
from taskletsim.core.trace import Trace
from taskletsim.metrics.runstates import RUNSTATES, vcpu_times

DATA = Path(__file__).parent / "data" / "xentrace"
CPU_HZ = 2_400_000_000  # xenalyze's default, which its stored summary used


def xenalyze_summary() -> dict[str, dict[str, dict[str, int]]]:
    """Per guest vCPU: its runstates' (count, total cycles), its exit reasons' counts
    (by VMX name) and its guest interrupts' counts (by vector), from xenalyze's text.
    A total is count x mean (xenalyze prints the mean rounded down: within count cycles)."""
    found: dict[str, dict[str, dict[str, int]]] = {}
    domain = vcpu = section = None
    for line in (DATA / "xenalyze-summary.txt").read_text().splitlines():
        if m := re.match(r"\|-- Domain (\d+) --\|", line):
            domain, vcpu = int(m[1]), None
        elif m := re.match(r"-- v(\d+) --", line):
            vcpu = f"d{domain}v{m[1]}"
            found[vcpu] = {"runstates": {}, "exits": {}, "vectors": {}}
        elif vcpu is None:
            continue
        elif line.startswith(("Exit reasons:", "Guest interrupt counts:", " Runstates:")):
            section = line.split()[0]
        elif section == "Runstates:" and (
            m := re.match(r"\s+(running|runnable|blocked|offline):\s+(\d+)\s+\S+s\s+(\d+)", line)
        ):
            found[vcpu]["runstates"][m[1]] = int(m[2]) * int(m[3])
        elif section == "Exit" and (m := re.match(r" ([A-Z_]+)\s+(\d+)\s", line)):
            found[vcpu]["exits"][m[1]] = int(m[2])
        elif section == "Guest" and (m := re.match(r"\s+\[\s*(\d+)\]\s+(\d+)", line)):
            found[vcpu]["vectors"][f"{int(m[1]):#04x}"] = int(m[2])
    return found


@pytest.fixture(scope="module")
def sample() -> Trace:
    return import_xentrace(DATA / "sample.xentrace", CPU_HZ)


def test_the_sample_is_the_one_its_provenance_names() -> None:
    sums = dict(line.split()[::-1] for line in (DATA / "SHA256SUMS").read_text().splitlines())
    for name, digest in sums.items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, name


def xenalyze_window(trace: Trace, vid: int) -> tuple[int, int]:
    """The part of a vCPU's time xenalyze accounts: from when it first knows the vCPU's
    state (its first switch to RUNNING, or, when its first record leaves RUNNING, the
    first record on that pCPU: xenalyze leaves a vCPU in INIT until then) to its last
    record (its pCPU's last, when it is still RUNNING: xenalyze closes the running
    interval when the pCPU's records end, and leaves any other last state open)."""
    rows = trace.rows(K.RUNSTATE_CHANGE)
    rows = rows[trace.subject[rows] == vid]
    initial, changes = rows[0], rows[1:]
    on_cpu = trace.cpu == trace.cpu[changes[0]]
    if trace.arg[initial] == 0:
        start = int(trace.time_ns[np.flatnonzero(on_cpu)[0]])
    else:
        start = int(trace.time_ns[changes[trace.arg[changes] == 0][0]])
    last = changes[-1]
    end = int(trace.time_ns[last])
    if trace.arg[last] == 0:
        end = int(trace.time_ns[np.flatnonzero(trace.cpu == trace.cpu[last])[-1]])
    return start, end


def test_runstate_times_equal_xenalyzes_within_a_thousandth_of_the_span(sample: Trace) -> None:
    theirs = xenalyze_summary()
    span = sample.meta.duration_ns
    assert span is not None and 3.49e9 < span < 3.50e9  # "Total time: 3.49 seconds"
    names = sample.names.names("vcpu")
    assert sorted(names) == sorted(v for v in theirs if not v.startswith("d32767"))
    worst = 0.0
    for vid, name in enumerate(names):
        start, end = xenalyze_window(sample, vid)
        ours = vcpu_times(sample, start, end)[name]
        for state in RUNSTATES:
            expected = theirs[name]["runstates"].get(state, 0) * 1e9 / CPU_HZ
            worst = max(worst, abs(getattr(ours, f"{state}_ns") - expected) / span)
    assert worst < 0.001
    # over the whole file, as the import defines it: every vCPU's four states fill the span
    for vt in vcpu_times(sample).values():
        assert vt.running_ns + vt.runnable_ns + vt.blocked_ns + vt.offline_ns == span


def test_injected_vectors_and_exits_are_counted_as_xenalyze_counts_them(sample: Trace) -> None:
    theirs = xenalyze_summary()
    vcpus, irqs = sample.names.names("vcpu"), sample.names.names("irq")
    rows = sample.rows(K.VIRQ_INJECT)
    injected = Counter(
        (vcpus[v], irqs[s].rsplit("vector", 1)[1])
        for v, s in zip(sample.arg[rows].tolist(), sample.subject[rows].tolist(), strict=True)
    )
    expected = {(v, vec): n for v, d in theirs.items() for vec, n in d["vectors"].items()}
    assert dict(injected) == expected
    reasons = {
        1: "EXTERNAL_INTERRUPT",
        7: "PENDING_VIRT_INTR",
        10: "CPUID",
        12: "HLT",
        18: "VMCALL",
        30: "IO_INSTRUCTION",
        44: "APIC_ACCESS",
        48: "EPT_VIOLATION",
    }
    rows = sample.rows(K.VM_EXIT)
    exits = Counter(
        (vcpus[v], reasons[r])
        for v, r in zip(sample.subject[rows].tolist(), sample.arg[rows].tolist(), strict=True)
    )
    expected_exits = {(v, r): n for v, d in theirs.items() for r, n in d["exits"].items()}
    assert set(exits) == set(expected_exits)
    # xenalyze counts an exit when its handling ends: one still open at a vCPU's end is not
    assert all(0 <= exits[k] - expected_exits[k] <= 1 for k in exits)
    assert sum(exits.values()) - sum(expected_exits.values()) <= len(vcpus)


def test_the_sample_reports_what_it_skipped(sample: Trace) -> None:
    source = sample.meta.source
    assert source is not None
    counts = source["counts"]
    assert counts["records"] == 180_680
    assert counts["mapped"] + counts["skipped"] + counts["wrap"] + counts["windows"] == 180_680
    assert counts["other_ids"]["0x00022209"] == 14_964  # credit2's runq records, e.g.
    assert not source["warnings"] and not source["excluded"]
