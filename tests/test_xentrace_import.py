"""Reading xentrace files: every record shape written by hand, and bad input.

The TSC runs at 1 GHz in these files unless said otherwise, so a TSC tick is a ns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from taskletsim.capture import VectorMap, import_xentrace, read_lockprof
from taskletsim.capture.xenformat import (
    TRC_64_FLAG,
    TRC_HVM_INJ_VIRQ,
    TRC_HVM_NESTEDFLAG,
    TRC_HVM_SVM_EXIT,
    TRC_HVM_VMENTRY,
    TRC_HVM_VMX_EXIT,
    TRC_HW_IRQ_HANDLED,
    TRC_LOST_RECORDS,
    TRC_TRACE_WRAP_BUFFER,
)
from taskletsim.core.config import ConfigError
from taskletsim.core.events import EventKind as K
from taskletsim.metrics.runstates import vcpu_times

from .helpers import events, rec, runstate, window

GHZ = 1_000_000_000
RUNNING, RUNNABLE, BLOCKED, OFFLINE = 0, 1, 2, 3


def write(tmp_path: Path, *windows: bytes, name: str = "t.xentrace") -> Path:
    path = tmp_path / name
    path.write_bytes(b"".join(windows))
    return path


def two_cpus(shift: int = 0) -> list[bytes]:
    """d1v0 on pCPU 0 and d1v1 on pCPU 1, windows out of time order across pCPUs (every
    TSC ``shift`` later)."""
    return [
        window(
            1,
            runstate(1, 1, BLOCKED, RUNNABLE, 1000 + shift),
            runstate(1, 1, RUNNABLE, RUNNING, 1100 + shift),
            rec(TRC_HVM_VMENTRY, [], 1150 + shift),
            rec(TRC_HVM_INJ_VIRQ, [0xF3, 0]),  # no TSC: 1150, the last on pCPU 1
            rec(TRC_HVM_VMX_EXIT, [12, 0xABC], 1500 + shift),  # HLT
            runstate(1, 1, RUNNING, BLOCKED, 1600 + shift),
        ),
        window(
            0,
            runstate(1, 0, RUNNABLE, RUNNING, 900 + shift),
            runstate(0x7FFF, 0, RUNNING, RUNNABLE, 900 + shift),  # the idle vCPU: left out
            rec(TRC_HVM_VMENTRY, [], 950 + shift),
            rec(TRC_HVM_VMX_EXIT | TRC_64_FLAG, [1, 0x1000, 0], 1200 + shift),  # external interrupt
            rec(TRC_HVM_VMENTRY | TRC_HVM_NESTEDFLAG, [], 1300 + shift),
        ),
        window(1, rec(TRC_HVM_SVM_EXIT, [0x60, 0], 1700 + shift)),  # an AMD exit id (Xen 4.19+)
        window(0, runstate(1, 0, RUNNING, RUNNABLE, 2000 + shift)),
    ]


def test_two_pcpus_merge_on_tsc_with_runstates_from_the_first_timestamp(tmp_path: Path) -> None:
    trace = import_xentrace(write(tmp_path, *two_cpus()), GHZ)
    assert trace.names.names("vcpu") == ["d1v0", "d1v1"]
    assert events(trace) == [
        (0, 0, "RUNSTATE_CHANGE", "d1v0", RUNNABLE),  # the old state of its first record
        (0, 1, "RUNSTATE_CHANGE", "d1v1", BLOCKED),
        (0, 0, "RUNSTATE_CHANGE", "d1v0", RUNNING),  # at TSC 900, the origin
        (50, 0, "VM_ENTRY", "d1v0", 0),
        (100, 1, "RUNSTATE_CHANGE", "d1v1", RUNNABLE),
        (200, 1, "RUNSTATE_CHANGE", "d1v1", RUNNING),
        (250, 1, "VM_ENTRY", "d1v1", 0),
        (250, 1, "VIRQ_INJECT", "d1v1:vector0xf3", "d1v1"),
        (300, 0, "VM_EXIT", "d1v0", 1),
        (400, 0, "VM_ENTRY", "d1v0", 0),
        (600, 1, "VM_EXIT", "d1v1", 12),
        (700, 1, "RUNSTATE_CHANGE", "d1v1", BLOCKED),
        (800, 1, "VM_EXIT", "d1v1", 0x60),  # no vCPU is switched in: but d1v1 was last
        (1100, 0, "RUNSTATE_CHANGE", "d1v0", RUNNABLE),
    ]
    assert trace.meta.duration_ns == 1100
    times = vcpu_times(trace)
    for vt in times.values():
        assert vt.running_ns + vt.runnable_ns + vt.blocked_ns + vt.offline_ns == 1100
    assert times["d1v1"].blocked_ns == 100 + 400
    assert times["d1v0"].guest_ns == 250 + 700
    source = trace.meta.source
    assert source is not None and source["tool"] == "xentrace"
    assert source["counts"]["windows"] == 4
    assert source["counts"]["records"] == 4 + 13


def test_a_record_without_a_tsc_takes_its_pcpus_previous_one(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        window(0, runstate(2, 0, RUNNABLE, RUNNING, 5000)),
        window(1, runstate(2, 1, RUNNABLE, RUNNING, 9000)),
        window(0, rec(TRC_HVM_INJ_VIRQ, [0x30, 0])),  # pCPU 0's last TSC: 5000, not 9000
    )
    trace = import_xentrace(path, GHZ)
    assert events(trace, (K.VIRQ_INJECT,)) == [(0, 0, "VIRQ_INJECT", "d2v0:vector0x30", "d2v0")]


def test_handled_irqs_are_rebuilt_from_their_32_bit_tsc_words(tmp_path: Path) -> None:
    base = 0x1_FFFF_FF00  # the low word wraps between the handler's start and the record
    start, end, at = base + 0x10, base + 0x150, base + 0x180
    path = write(
        tmp_path,
        window(
            3,
            runstate(1, 0, RUNNABLE, RUNNING, base),
            rec(TRC_HW_IRQ_HANDLED, [40, start & 0xFFFFFFFF, end & 0xFFFFFFFF], at),
            rec(TRC_HW_IRQ_HANDLED, [40, (at + 5) & 0xFFFFFFFF, (at + 9) & 0xFFFFFFFF], at + 10),
        ),
    )
    trace = import_xentrace(path, GHZ)
    assert events(trace, (K.IRQ_ENTRY, K.IRQ_EXIT)) == [
        (0x10, 3, "IRQ_ENTRY", "irq40", 0),
        (0x150, 3, "IRQ_EXIT", "irq40", 0),
        (0x185, 3, "IRQ_ENTRY", "irq40", 1),
        (0x189, 3, "IRQ_EXIT", "irq40", 1),
    ]
    assert [i.kind for i in trace.meta.irq] == ["irq"]


def test_lost_records_wraps_and_unknown_ids_are_counted(tmp_path: Path) -> None:
    first_lost = 1200
    path = write(
        tmp_path,
        window(
            0,
            runstate(1, 0, RUNNABLE, RUNNING, 1000),
            rec(TRC_TRACE_WRAP_BUFFER, [0, 0, 0], 1100),
            rec(TRC_LOST_RECORDS, [17, 0, first_lost, 0], 1500),
            rec(0x0002800E, [1, 2], 1600),
            rec(0x0002800E, [1, 2], 1700),
            rec(0x0DEAD001, [], 1800),
        ),
    )
    trace = import_xentrace(path, GHZ)
    source = trace.meta.source
    assert source is not None
    assert source["counts"]["lost_records"] == 17
    assert source["excluded"] == [[0, 200, 500]]
    assert source["counts"]["wrap"] == 1
    assert source["counts"]["other_ids"] == {"0x0002800e": 2, "0x0dead001": 1}
    assert source["counts"]["skipped"] == 3
    # the lost window's time is nobody's: out of every runstate and of the window
    vt = vcpu_times(trace)["d1v0"]
    assert (vt.running_ns, vt.window_ns) == (800 - 300, 800 - 300)
    assert vcpu_times(trace, 300, 700)["d1v0"].running_ns == 400 - 200


def test_a_tsc_that_goes_back_on_a_pcpu_is_held_and_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        window(
            0,
            runstate(1, 0, RUNNABLE, RUNNING, 1000),
            rec(TRC_HVM_VMENTRY, [], 1300),
            rec(TRC_HVM_VMX_EXIT, [1, 0], 1200),  # back by 100
        ),
    )
    trace = import_xentrace(path, GHZ)
    assert events(trace, (K.VM_ENTRY, K.VM_EXIT)) == [
        (300, 0, "VM_ENTRY", "d1v0", 0),
        (300, 0, "VM_EXIT", "d1v0", 1),
    ]
    source = trace.meta.source
    assert source is not None and source["counts"]["tsc_backwards"] == 1
    assert "goes back on pCPU 0 at byte 40" in source["warnings"][0]


@pytest.mark.parametrize("chunk_bytes", [64, 100, 1 << 20])
def test_the_chunk_size_changes_nothing(tmp_path: Path, chunk_bytes: int) -> None:
    path = write(tmp_path, *two_cpus(), *two_cpus(2000), *two_cpus(4000))
    whole = import_xentrace(path, GHZ, chunk_bytes=1 << 24)
    assert import_xentrace(path, GHZ, chunk_bytes=chunk_bytes).digest() == whole.digest()


def test_a_file_cut_anywhere_reads_what_it_has_or_says_why_not(tmp_path: Path) -> None:
    """Cut between two windows, a capture is what xentrace would have written had it
    stopped there; cut anywhere else, it is refused or read with a warning."""
    parts = two_cpus()
    data = b"".join(parts)
    full = import_xentrace(write(tmp_path, data), GHZ)
    between = set(np.cumsum([len(p) for p in parts]).tolist())
    for size in sorted(set(range(len(data))) - between):
        path = write(tmp_path, data[:size], name=f"cut{size}")
        try:
            trace = import_xentrace(path, GHZ)
        except ConfigError as error:
            assert str(path) in str(error)
            continue
        source = trace.meta.source
        assert source is not None
        assert source["warnings"], size  # a cut file never reads as a whole one
        assert len(trace) <= len(full)


def test_a_window_whose_size_does_not_match_its_records_is_refused(tmp_path: Path) -> None:
    bad = bytearray(window(0, runstate(1, 0, RUNNABLE, RUNNING, 10), rec(TRC_HVM_VMENTRY, [], 20)))
    bad[8] -= 4  # the window claims one word less than its records take
    path = write(tmp_path, bytes(bad), window(1, runstate(1, 1, RUNNABLE, RUNNING, 30)))
    with pytest.raises(ConfigError, match=r"at byte 36.*cpu-change record"):
        import_xentrace(path, GHZ)


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00" * 11, b"PAR1" + b"\x00" * 60, b"hello, this is not a trace at all\n" * 3],
)
def test_what_is_not_a_xentrace_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path, content)
    with pytest.raises(ConfigError, match="xentrace"):
        import_xentrace(path, GHZ)


@pytest.mark.parametrize("hz", [0, -1, 1e12, "fast", True, None])
def test_a_wrong_cpu_hz_is_refused(tmp_path: Path, hz: object) -> None:
    path = write(tmp_path, *two_cpus())
    with pytest.raises(ConfigError, match="cpu_hz"):
        import_xentrace(path, hz)  # type: ignore[arg-type]


def test_the_tsc_rate_converts_exactly(tmp_path: Path) -> None:
    hz = 2_400_000_000
    path = write(
        tmp_path,
        window(0, runstate(1, 0, RUNNABLE, RUNNING, 10**15), rec(TRC_HVM_VMENTRY, [], 10**15 + 7)),
    )
    trace = import_xentrace(path, hz)
    assert trace.time_ns.tolist()[-1] == 2  # 7 ticks of 0.4167 ns, rounded down
    assert trace.meta.source is not None and trace.meta.source["details"]["cpu_hz"] == hz


def test_a_vector_map_names_the_sources(tmp_path: Path) -> None:
    vectors = tmp_path / "vectors"
    vectors.write_text("# vcpu vector name kind\n* 0xec timer timer\nd2v0 0x30 nic0:msi device\n")
    path = write(
        tmp_path,
        window(
            0,
            runstate(2, 0, RUNNABLE, RUNNING, 100),
            rec(TRC_HVM_INJ_VIRQ, [0xEC, 0], 110),
            rec(TRC_HVM_INJ_VIRQ, [0x30, 0], 120),
            rec(TRC_HVM_INJ_VIRQ, [0x31, 0], 130),
        ),
    )
    trace = import_xentrace(path, GHZ, vector_map=vectors)
    assert [(i.name, i.kind) for i in trace.meta.irq] == [
        ("d2v0:timer", "timer"),
        ("nic0:msi", "device"),
        ("d2v0:vector0x31", "other"),
    ]


@pytest.mark.parametrize(
    "line, what",
    [("d1v0 0x30", "VCPU VECTOR NAME"), ("* 300 x", "a vector 0..255"), ("* 1 x y", "a kind")],
)
def test_a_bad_vector_map_line_is_named(tmp_path: Path, line: str, what: str) -> None:
    path = tmp_path / "vectors"
    path.write_text(f"# header\n{line}\n")
    with pytest.raises(ConfigError, match=f"vectors:2.*{what}"):
        VectorMap.read(path)


def test_xenlockprof_output_is_kept_as_the_totals_it_is(tmp_path: Path) -> None:
    text = (
        "global lock tasklet_lock                            : lock:       12345("
        "         0.001234567s), block:          67(         0.000089000s)\n"
        "domain 1 lock event_lock                            : lock:          10("
        "         0.000000100s), block:           0(         0.000000000s)\n"
        "total profiling time:          10.000000000s\n"
        "total locked time:              0.001234667s\n"
        "total blocked time:             0.000089000s\n"
    )
    path = tmp_path / "lockprof.txt"
    path.write_text(text)
    found = read_lockprof(path)
    assert found["locks"]["global lock tasklet_lock"] == {
        "lock_cnt": 12345,
        "block_cnt": 67,
        "time_hold_s": 0.001234567,
        "time_block_s": 0.000089,
    }
    assert found["profiling_time_s"] == 10.0
    trace = import_xentrace(write(tmp_path, *two_cpus()), GHZ, lockprof=path)
    assert trace.meta.source is not None
    assert trace.meta.source["details"]["lockprof"] == found
    assert len(trace.rows(K.LOCK_ACQUIRE)) == 0  # never turned into events
    (tmp_path / "bad.txt").write_text("tasklet_lock 12345\n")
    with pytest.raises(ConfigError, match=r"bad\.txt:1"):
        read_lockprof(tmp_path / "bad.txt")


def test_an_imported_trace_saves_and_loads_with_its_source(tmp_path: Path) -> None:
    trace = import_xentrace(write(tmp_path, *two_cpus()), GHZ)
    trace.save(tmp_path / "t.parquet")
    from taskletsim.core.trace import Trace

    back = Trace.load(tmp_path / "t.parquet")
    assert back.equals(trace)
    assert np.array_equal(back.time_ns, trace.time_ns)
