"""Reading Linux tracepoint text: each layout written by hand, each mapped event, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskletsim.capture import import_ftrace
from taskletsim.core.config import ConfigError
from taskletsim.core.events import EventKind
from taskletsim.metrics import cpu_times, vcpu_times
from taskletsim.metrics.locks import contention_stats

from .helpers import events

DATA = Path(__file__).parent / "data" / "ftrace"

PERF = (DATA / "hand-perf-script.txt").read_text()

TRACEFS = (DATA / "hand-tracefs.txt").read_text()

TRACE_CMD = (DATA / "hand-trace-cmd.txt").read_text()


def write(tmp_path: Path, text: str, name: str = "capture.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_perf_script_lines_map_to_the_trace(tmp_path: Path) -> None:
    trace = import_ftrace(write(tmp_path, PERF))
    lock = "0xffff8881012a4b68"
    assert events(trace) == [
        (0, 1, "IRQ_ENTRY", "irq36:virtio1-req.0", 0),
        (5689, 1, "SOFTIRQ_RAISE", "BLOCK", 1),
        (8373, 1, "IRQ_EXIT", "irq36:virtio1-req.0", 0),
        (11227, 1, "SOFTIRQ_ENTRY", "BLOCK", 0),
        (22754, 1, "SOFTIRQ_EXIT", "BLOCK", 0),
        (50205, 0, "LOCK_CONTEND", lock, 0b1),
        (51205, 1, "LOCK_CONTEND", lock, 0b110),
        (55705, 0, "LOCK_ACQUIRE", lock, 50205),
        (62205, 1, "LOCK_ACQUIRE", lock, 51205),
        (100205, 0, "IRQ_ENTRY", "local_timer", 0),
        (101205, 0, "TASKLET_ENTRY", "tx_done", 0),
        (102205, 0, "TASKLET_EXIT", "tx_done", 0),
        (103205, 0, "IRQ_EXIT", "local_timer", 0),
        (110205, 0, "TASKLET_ENTRY", "work:vmstat_update", 0),
        (114205, 0, "TASKLET_EXIT", "work:vmstat_update", 0),
    ]
    source = trace.meta.source
    assert source is not None and source["tool"] == "perf"
    assert source["counts"]["other_events"] == {"timer:hrtimer_cancel": 1}
    assert source["counts"]["lines"] == 16 and source["counts"]["mapped"] == 15
    assert [(i.name, i.kind) for i in trace.meta.irq] == [
        ("irq36:virtio1-req.0", "device"),
        ("local_timer", "timer"),
    ]


def test_contention_counts_and_waits_from_contended_acquisitions_only(tmp_path: Path) -> None:
    trace = import_ftrace(write(tmp_path, PERF))
    stats = contention_stats(trace)["0xffff8881012a4b68"]
    assert stats.contentions == 2
    assert stats.wait.total == 5500 + 11000
    assert stats.wait.max == 11000


@pytest.mark.parametrize(
    "text, tool",
    [(TRACEFS, "ftrace"), (TRACE_CMD, "trace-cmd"), (TRACEFS.split("#\n", 3)[-1], "ftrace")],
)
def test_tracefs_and_trace_cmd_layouts_are_told_apart(tmp_path: Path, text: str, tool: str) -> None:
    trace = import_ftrace(write(tmp_path, text))
    source = trace.meta.source
    assert source is not None and source["tool"] == tool
    first = events(trace)[:2]
    assert first == [
        (0, 1, "IRQ_ENTRY", "irq36:virtio1-req.0", 0),
        (9000, 1, "IRQ_EXIT", "irq36:virtio1-req.0", 0),
    ]
    if "kworker" in text:
        assert events(trace)[2] == (12000, 0, "SOFTIRQ_ENTRY", "TIMER", 0)


def test_kallsyms_names_the_locks(tmp_path: Path) -> None:
    syms = write(tmp_path, "ffff8881012a4b68 d big_lock\nffffffff81000000 T _stext\n", "kallsyms")
    trace = import_ftrace(write(tmp_path, PERF), kallsyms=syms)
    assert trace.names.names("lock") == ["big_lock"]


def test_cut_and_unknown_lines_are_counted_not_fatal(tmp_path: Path) -> None:
    lines = PERF.splitlines()
    text = "\n".join([lines[0], lines[1][:40], "garbage here", *lines[2:], ""])
    trace = import_ftrace(write(tmp_path, text))
    source = trace.meta.source
    assert source is not None
    assert source["counts"]["bad_lines"] == 2
    assert source["warnings"][0].startswith("line 2: ")
    assert source["warnings"][1].startswith("line 3: ")
    assert len(trace) == 14  # the cut softirq_raise is not read


@pytest.mark.parametrize("text", ["", "hello\nworld\n", "cpus=2\n", PERF.splitlines()[-1]])
def test_a_file_without_events_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="trace text"):
        import_ftrace(write(tmp_path, text))


HAND_SCHED = DATA / "hand-sched-perf-script.txt"


def test_the_scheduler_tracepoints_give_task_runstates_and_linux_accounting() -> None:
    """``sched_switch`` and ``sched_wakeup`` lines (written after their ``print fmt``) as
    task runstates; the trace is then accounted as the Linux host's: the hard IRQ
    (1 us) on CPU 0, NET_RX at its exit (2 us, no task known to be running yet) and
    TASKLET in ``ksoftirqd/0`` (2 us, its own time); ``reader`` woken onto CPU 1
    (runnable 1 us), then running 4 us; a task first seen waking is runnable from
    there, one first switched out (``perf``, ``R+``) runnable until switched in."""
    trace = import_ftrace(HAND_SCHED)
    runstates = [
        (int(t), int(c), trace.names.name("vcpu", int(s)), int(a))
        for t, c, k, s, a in zip(
            trace.time_ns, trace.cpu, trace.kind, trace.subject, trace.arg, strict=True
        )
        if k == int(EventKind.RUNSTATE_CHANGE)
    ]
    assert runstates == [
        (4000, 1, "reader-200", 1),
        (5000, 1, "reader-200", 0),
        (9000, 1, "reader-200", 2),
        (9500, 0, "ksoftirqd/0-15", 1),
        (10000, 0, "perf-100", 1),
        (10000, 0, "ksoftirqd/0-15", 0),
        (14000, 0, "ksoftirqd/0-15", 2),
        (14000, 0, "perf-100", 0),
        (15000, 1, "reader-201", 1),
    ]
    assert {n: v.workload for n, v in trace.meta.vcpus.items()} == {
        "reader-200": "task",
        "ksoftirqd/0-15": "ksoftirqd",
        "perf-100": "task",
        "reader-201": "task",
    }
    assert "RUNSTATE_CHANGE" in trace.meta.source["kinds"]
    cpu = cpu_times(trace)
    assert cpu.hardirq_ns == (1000, 0) and cpu.softirq_ns == (4000, 0)
    assert cpu.task_softirq_ns == {"ksoftirqd/0-15": 2000}
    assert cpu.softirq_in_ksoftirqd_ns == 2000
    reader = vcpu_times(trace)["reader-200"]  # a Linux host's tasks: no VM events needed
    assert (reader.runnable_ns, reader.running_ns) == (1000, 4000)


def test_a_capture_without_the_scheduler_tracepoints_is_not_accounted_per_task() -> None:
    trace = import_ftrace(DATA / "hand-perf-script.txt")
    assert "RUNSTATE_CHANGE" not in trace.meta.source["kinds"]
    with pytest.raises(ConfigError, match="cpu_times"):
        cpu_times(trace)
