"""This project's own perf capture (tests/data/ftrace/PROVENANCE.md), read and counted
again here from its raw lines, independently of the importer."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pytest

from taskletsim.capture import import_ftrace
from taskletsim.core.events import EventKind as K
from taskletsim.core.trace import Trace
from taskletsim.metrics import cpu_times, vcpu_times
from taskletsim.metrics.locks import contention_stats

CAPTURE = Path(__file__).parent / "data" / "ftrace" / "capture-perf-script.txt"


def raw() -> list[tuple[int, int, str, list[str]]]:
    """Each line as (ns, cpu, event, its words after the event)."""
    out = []
    for line in CAPTURE.read_text().splitlines():
        words = line.split()
        at = next(i for i, w in enumerate(words) if w.startswith("[") and w.endswith("]"))
        sec, frac = words[at + 1].rstrip(":").split(".")
        out.append(
            (int(sec) * 10**9 + int(frac), int(words[at][1:-1]), words[at + 2], words[at + 3 :])
        )
    return out


@pytest.fixture(scope="module")
def capture() -> Trace:
    return import_ftrace(CAPTURE)


def test_contention_counts_and_waits_equal_a_count_from_the_raw_lines(capture: Trace) -> None:
    began: dict[tuple[int, str], int] = {}
    waits: dict[str, list[int]] = defaultdict(list)
    for t, cpu, event, rest in raw():
        if event == "lock:contention_begin:":
            began[(cpu, rest[0])] = t
        elif event == "lock:contention_end:" and (cpu, rest[0]) in began:
            waits[rest[0]].append(t - began.pop((cpu, rest[0])))
    stats = contention_stats(capture)
    assert set(stats) == set(waits)
    for lock, w in waits.items():
        assert stats[lock].contentions == len(w)
        assert stats[lock].wait.total == sum(w)
        assert stats[lock].wait.max == max(w)
    assert sum(len(w) for w in waits.values()) == 616  # of 620 begins: 4 end after the cut


def test_every_line_is_an_event_and_the_counts_match(capture: Trace) -> None:
    lines = raw()
    per_event = Counter(event.rstrip(":") for _t, _c, event, _r in lines)
    source = capture.meta.source
    assert source is not None
    assert source["counts"]["lines"] == len(lines) == 2575
    assert not source.get("warnings")
    kinds = {
        K.IRQ_ENTRY: per_event["irq:irq_handler_entry"]
        + per_event["irq_vectors:local_timer_entry"],
        K.SOFTIRQ_RAISE: per_event["irq:softirq_raise"],
        K.SOFTIRQ_ENTRY: per_event["irq:softirq_entry"],
        K.TASKLET_ENTRY: per_event["workqueue:workqueue_execute_start"],
        K.LOCK_CONTEND: per_event["lock:contention_begin"],
    }
    for kind, n in kinds.items():
        assert len(capture.rows(kind)) == n, kind.name
    assert capture.meta.duration_ns == lines[-1][0] - lines[0][0] + 1  # holds the last


def test_softirq_time_by_vector_equals_the_raw_pairs(capture: Trace) -> None:
    open_at: dict[int, tuple[int, str]] = {}
    total: Counter[str] = Counter()
    for t, cpu, event, rest in raw():
        if event == "irq:softirq_entry:":
            open_at[cpu] = (t, rest[1])
        elif event == "irq:softirq_exit:" and cpu in open_at:
            start, action = open_at.pop(cpu)
            total[action.strip("[]").split("=")[1]] += t - start
    rows = capture.of_kinds(K.SOFTIRQ_ENTRY, K.SOFTIRQ_EXIT)
    ours: Counter[str] = Counter()
    started: dict[int, int] = {}
    for r in rows.tolist():
        cpu, t = int(capture.cpu[r]), int(capture.time_ns[r])
        if capture.kind[r] == K.SOFTIRQ_ENTRY:
            started[cpu] = t
        elif cpu in started:
            ours[capture.meta.softirqs[int(capture.subject[r])]] += t - started.pop(cpu)
    assert ours == total and total["BLOCK"] > 0 and total["NET_RX"] > 0


SCHED_CAPTURE = CAPTURE.with_name("capture-sched-perf-script.txt")


def test_the_capture_with_the_scheduler_is_accounted_as_linux_counts_it() -> None:
    """10 ms of this machine with the scheduler's tracepoints (PROVENANCE.md): the hard-IRQ
    time per CPU and the time some task ran, counted again from the raw lines (each CPU
    walked from switch to switch), equal the importer's accounting; and the figures
    themselves, kept as a regression: 0.80% of CPU time in hard IRQs, 2.57% in
    softirqs, 22% of that in ``ksoftirqd``."""
    lines = []
    for line in SCHED_CAPTURE.read_text().splitlines():
        words = line.split()
        at = next(i for i, w in enumerate(words) if w.startswith("[") and w.endswith("]"))
        sec, frac = words[at + 1].rstrip(":").split(".")
        lines.append((int(sec) * 10**9 + int(frac), int(words[at][1:-1]), words[at + 2], line))
    t0, end = lines[0][0], lines[-1][0] + 1
    hard = [0, 0]
    began: dict[int, int] = {}
    running = 0
    since: dict[int, int | None] = {}
    for t, cpu, event, line in lines:
        if event.endswith(("irq_handler_entry:", "local_timer_entry:")):
            began[cpu] = t
        elif event.endswith(("irq_handler_exit:", "local_timer_exit:")) and cpu in began:
            hard[cpu] += t - began.pop(cpu)
        elif event == "sched:sched_switch:":
            if since.get(cpu) is not None:
                running += t - since[cpu]
            since[cpu] = None if line.split("next_pid=")[1].split()[0] == "0" else t
    running += sum(end - s for s in since.values() if s is not None)
    trace = import_ftrace(SCHED_CAPTURE)
    assert trace.meta.duration_ns == end - t0
    cpu = cpu_times(trace)
    assert list(cpu.hardirq_ns) == hard
    assert sum(v.running_ns for v in vcpu_times(trace).values()) == running
    assert round(cpu.hardirq_pct, 2) == 0.80 and round(cpu.softirq_pct, 2) == 2.57
    assert round(cpu.ksoftirqd_softirq_pct) == 22 and cpu.ksoftirqd_wakeups == 2
