"""Reading Linux tracepoint text (``perf script``, tracefs ``trace``/``trace_pipe``,
``trace-cmd report``) into a :class:`~taskletsim.core.trace.Trace`.

The three tools print one event per line, ``COMM PID [CPU] SECONDS: EVENT:
FIELDS`` with small differences (``perf script`` names the event with its
subsystem, ``irq:softirq_entry``, and separates the command from the PID with
spaces; tracefs joins them with a dash and adds a column of flags such as
``d.h1.``; ``trace-cmd report`` starts with ``cpus=N``), told apart from the
first lines. The fields are printed by each tracepoint's ``TP_printk``
(``include/trace/events/irq.h``, ``lock.h``, ``workqueue.h``,
``arch/x86/include/asm/trace/irq_vectors.h``):

======================================== ===================================
tracepoint                               trace events
======================================== ===================================
``irq:irq_handler_entry`` / ``_exit``    ``IRQ_ENTRY`` / ``IRQ_EXIT``
                                         (subject ``irq{N}:{name}``)
``irq_vectors:*_entry`` / ``*_exit``     ``IRQ_ENTRY`` / ``IRQ_EXIT`` (subject
                                         the vector's name: ``local_timer``)
``irq:softirq_raise`` / ``_entry`` /     ``SOFTIRQ_RAISE`` / ``_ENTRY`` /
``_exit``                                ``_EXIT`` (the softirq number)
``irq:tasklet_entry`` / ``_exit``        ``TASKLET_ENTRY`` / ``_EXIT`` (subject
                                         the function)
``workqueue:workqueue_execute_start`` /  ``TASKLET_ENTRY`` / ``_EXIT`` (subject
``_end``                                 ``work:{function}``: a work item is
                                         the BH workqueue's tasklet)
``lock:contention_begin`` / ``_end``     ``LOCK_CONTEND`` (arg the ``LCB_F_*``
                                         flags) / ``LOCK_ACQUIRE`` (arg the
                                         contention's start)
``sched:sched_switch``                   ``RUNSTATE_CHANGE`` of the task
                                         switched out (runnable if its
                                         ``prev_state`` is ``R``/``R+``, else
                                         blocked) and of the one switched in
                                         (running); the idle task (pid 0) is
                                         no task
``sched:sched_wakeup`` / ``_new``        ``RUNSTATE_CHANGE`` to runnable, on
                                         ``target_cpu``
======================================== ===================================

A task found running on a CPU whose next switch names another task as the one
switched out (its own switch-out was not recorded) is taken as blocked there and
then, and counted (``switch_out_missed``).

Tasks are named ``COMM-PID`` (the first name a pid showed) in the ``vcpu``
names, and classed by their command (``meta.vcpus``): ``ksoftirqd``,
``irq-thread`` (``irq/...``), ``kworker``, else ``task``.

Lines of other events are counted and skipped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.config import ConfigError
from ..core.events import COLUMNS, EventKind
from ..core.source import TraceSource
from ..core.trace import IrqInfo, NameTable, Trace, TraceMeta, VcpuInfo

LINUX_SOFTIRQS = (
    "HI",
    "TIMER",
    "NET_TX",
    "NET_RX",
    "BLOCK",
    "IRQ_POLL",
    "TASKLET",
    "SCHED",
    "HRTIMER",
    "RCU",
)
"""``softirq_to_name`` of ``kernel/softirq.c``: the softirq numbers' names."""
LOCK_FLAGS = ("SPIN", "READ", "WRITE", "RT", "PERCPU", "MUTEX")
"""``LCB_F_*`` of ``include/trace/events/lock.h``, bit 0 first."""
FTRACE_KINDS = (
    EventKind.IRQ_ENTRY,
    EventKind.IRQ_EXIT,
    EventKind.SOFTIRQ_RAISE,
    EventKind.SOFTIRQ_ENTRY,
    EventKind.SOFTIRQ_EXIT,
    EventKind.TASKLET_ENTRY,
    EventKind.TASKLET_EXIT,
    EventKind.LOCK_CONTEND,
    EventKind.LOCK_ACQUIRE,
)
"""What a Linux tracepoint capture can hold."""
FTRACE_CAVEATS = (
    "lock:contention_begin/end fire only for contended acquisitions: no uncontended "
    "acquisition and no release (hold times unknown)",
    "no real trace has IRQ_RAISE: interrupt latency starts at the handler's entry",
    "a bare-metal Linux host: no VM entries or injections; task runstates only if the "
    "sched:sched_switch and sched:sched_wakeup tracepoints were recorded",
    "LOCK_CONTEND's arg is the tracepoint's LCB_F_* flags (bit 0 SPIN, 1 READ, 2 WRITE, "
    "3 RT, 4 PERCPU, 5 MUTEX), not the model's interrupts-off flag",
    "workqueue work items are kept as TASKLET_ENTRY/EXIT of work:{function}",
)

LINE = re.compile(
    r"^\s*(?P<comm>.*?)(?:-|\s+)(?P<pid>\d+)\s+(?:\(\s*[-\d]+\)\s+)?\[(?P<cpu>\d+)\]\s+"
    r"(?:(?P<flags>[\w.]{4,6})\s+)?(?P<sec>\d+)\.(?P<frac>\d{1,9}):\s+"
    r"(?P<event>[\w:]+):\s?(?P<fields>.*)$"
)
FIELD = re.compile(r"(\w+)=(\S+)")
SWITCH = re.compile(
    r"prev_comm=(?P<pc>.*?) prev_pid=(?P<pp>\d+) prev_prio=\S+ prev_state=(?P<ps>\S+) ==> "
    r"next_comm=(?P<nc>.*?) next_pid=(?P<np>\d+) next_prio=\S+"
)
WAKEUP = re.compile(
    r"comm=(?P<c>.*?) pid=(?P<p>\d+) prio=\S+ (?:success=\d+ )?target_cpu=(?P<t>\d+)"
)
_RUNNING, _RUNNABLE, _BLOCKED = 0, 1, 2


def task_class(comm: str) -> str:
    """The class a task's command puts it in: ``ksoftirqd``, ``irq-thread``, ``kworker``,
    else ``task``."""
    if comm.startswith("ksoftirqd/"):
        return "ksoftirqd"
    if comm.startswith("irq/"):
        return "irq-thread"
    return "kworker" if comm.startswith("kworker/") else "task"


def _ns(sec: str, frac: str) -> int:
    return int(sec) * 1_000_000_000 + int(frac.ljust(9, "0"))


@dataclass
class _Events:
    """Rows gathered line by line, and the names they use."""

    names: NameTable = field(default_factory=NameTable)
    rows: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    irq: list[IrqInfo] = field(default_factory=list)
    irq_ids: dict[str, int] = field(default_factory=dict)
    seq: dict[int, int] = field(default_factory=dict)
    contended: dict[tuple[int, int], int] = field(default_factory=dict)
    tasks: dict[int, int] = field(default_factory=dict)  # pid -> task id
    task_class: dict[str, str] = field(default_factory=dict)  # task name -> class
    state: dict[int, int] = field(default_factory=dict)  # task id -> last state
    on_cpu: dict[int, int] = field(default_factory=dict)  # cpu -> the task running there

    def task(self, comm: str, pid: int) -> int:
        """The task of ``pid`` (named ``COMM-PID`` the first time it is seen)."""
        if pid not in self.tasks:
            name = f"{comm}-{pid}"
            self.tasks[pid] = self.names.add("vcpu", name)
            self.task_class[name] = task_class(comm)
        return self.tasks[pid]

    def runstate(self, t: int, cpu: int, task: int, state: int) -> None:
        self.state[task] = state
        self.rows.append((t, cpu, int(EventKind.RUNSTATE_CHANGE), task, state))

    def name(self, space: str, name: str) -> int:
        known = self.names.names(space)
        return known.index(name) if name in known else self.names.add(space, name)

    def irq_source(self, name: str, kind: str) -> int:
        if name not in self.irq_ids:
            self.irq_ids[name] = self.names.add("irq", name)
            self.irq.append(IrqInfo(name=name, kind=kind, cpu=-1))
        return self.irq_ids[name]


@dataclass
class _Reader:
    path: Path
    kallsyms: dict[int, str]
    events: _Events = field(default_factory=_Events)
    tool: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    other: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    irq_names: dict[int, str] = field(default_factory=dict)

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def warn(self, number: int, line: str, what: str) -> None:
        self.count("bad_lines")
        if len(self.warnings) < 5:
            self.warnings.append(f"line {number}: {what}: {line.strip()[:80]!r}")

    def lock(self, text: str) -> int:
        try:
            address = int(text, 16)
        except ValueError:
            return self.events.name("lock", text)
        return self.events.name("lock", self.kallsyms.get(address, text))

    def take(self, number: int, line: str) -> None:
        found = LINE.match(line)
        if found is None:
            self.warn(number, line, "not an event line (COMM PID [CPU] SECONDS: EVENT: ...)")
            return
        if self.tool is None:
            self.tool = "perf" if ":" in found["event"] else "ftrace"
        event = found["event"].rsplit(":", 1)[-1]
        t, cpu, text = _ns(found["sec"], found["frac"]), int(found["cpu"]), found["fields"]
        self.count("lines")
        try:
            mapped = self.map(event, t, cpu, text)
        except (KeyError, ValueError, IndexError):
            self.warn(number, line, f"fields of {event} as its tracepoint prints them")
            return
        if mapped:
            self.count("mapped")
        else:
            self.other[found["event"]] = self.other.get(found["event"], 0) + 1

    def map(self, event: str, t: int, cpu: int, text: str) -> bool:
        ev, add = self.events, self.events.rows.append
        if event in ("irq_handler_entry", "irq_handler_exit"):
            fields = dict(FIELD.findall(text))
            irq = int(fields["irq"])
            if event == "irq_handler_entry":
                self.irq_names[irq] = text.split("name=", 1)[1].strip()
            elif irq not in self.irq_names:  # the capture began inside the handler
                self.count("exit_before_entry")
                return True
            name = f"irq{irq}:{self.irq_names[irq]}"
            sid = ev.irq_source(name, "device")
            return self._irq(event.endswith("entry"), t, cpu, sid)
        if event.endswith(("_entry", "_exit")) and "vector=" in text:
            base = event.rsplit("_", 1)[0]
            sid = ev.irq_source(base, "timer" if base == "local_timer" else "ipi")
            return self._irq(event.endswith("entry"), t, cpu, sid)
        if event in ("softirq_raise", "softirq_entry", "softirq_exit"):
            vec = int(text.split("vec=", 1)[1].split()[0])
            if not 0 <= vec < len(LINUX_SOFTIRQS):
                raise ValueError(vec)
            kind = {
                "softirq_raise": EventKind.SOFTIRQ_RAISE,
                "softirq_entry": EventKind.SOFTIRQ_ENTRY,
                "softirq_exit": EventKind.SOFTIRQ_EXIT,
            }[event]
            add((t, cpu, int(kind), vec, cpu if kind == EventKind.SOFTIRQ_RAISE else 0))
            return True
        if event in ("tasklet_entry", "tasklet_exit"):
            func = text.split("function=", 1)[1].strip()
            kind = EventKind.TASKLET_ENTRY if event == "tasklet_entry" else EventKind.TASKLET_EXIT
            add((t, cpu, int(kind), ev.name("tasklet", func), 0))
            return True
        if event in ("workqueue_execute_start", "workqueue_execute_end"):
            func = text.split("function ", 1)[1].strip()
            start = event.endswith("start")
            kind = EventKind.TASKLET_ENTRY if start else EventKind.TASKLET_EXIT
            add((t, cpu, int(kind), ev.name("tasklet", f"work:{func}"), 0))
            return True
        if event == "sched_switch":
            found = SWITCH.match(text)
            if found is None:
                raise ValueError(text)
            prev = ev.task(found["pc"], int(found["pp"])) if int(found["pp"]) else -1
            was = ev.on_cpu.pop(cpu, -1)
            if was not in (-1, prev) and ev.state.get(was) == _RUNNING:
                # its switch-out was not recorded: it left this CPU by now, state unknown
                self.count("switch_out_missed")
                ev.runstate(t, cpu, was, _BLOCKED)
            if prev >= 0:
                runnable = found["ps"].startswith("R")
                ev.runstate(t, cpu, prev, _RUNNABLE if runnable else _BLOCKED)
            if int(found["np"]):
                nxt = ev.task(found["nc"], int(found["np"]))
                ev.runstate(t, cpu, nxt, _RUNNING)
                ev.on_cpu[cpu] = nxt
            return True
        if event in ("sched_wakeup", "sched_wakeup_new"):
            found = WAKEUP.match(text)
            if found is None:
                raise ValueError(text)
            task = ev.task(found["c"], int(found["p"]))
            if ev.state.get(task) not in (_RUNNING, _RUNNABLE):
                ev.runstate(t, int(found["t"]), task, _RUNNABLE)
            return True
        if event == "contention_begin":
            address, rest = text.split(None, 1)
            flags = rest.split("flags=", 1)[1].rstrip(")").split("|")
            bits = sum(1 << LOCK_FLAGS.index(f) for f in flags if f and f != "0")
            lock = self.lock(address)
            ev.contended[(cpu, lock)] = t
            add((t, cpu, int(EventKind.LOCK_CONTEND), lock, bits))
            return True
        if event == "contention_end":
            lock = self.lock(text.split(None, 1)[0])
            began = ev.contended.pop((cpu, lock), None)
            if began is None:
                self.count("contention_end_without_begin")
                return True
            add((t, cpu, int(EventKind.LOCK_ACQUIRE), lock, began))
            return True
        return False

    def _irq(self, entry: bool, t: int, cpu: int, sid: int) -> bool:
        ev = self.events
        if entry:
            ev.seq[sid] = ev.seq.get(sid, -1) + 1
        n = ev.seq.get(sid, 0)
        kind = EventKind.IRQ_ENTRY if entry else EventKind.IRQ_EXIT
        ev.rows.append((t, cpu, int(kind), sid, n))
        return True


def read_kallsyms(path: str | os.PathLike[str]) -> dict[int, str]:
    """``/proc/kallsyms`` (``ADDRESS TYPE NAME [MODULE]`` per line) as address -> name."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as error:
        raise ConfigError("kallsyms", str(path), f"a readable file ({error})") from None
    found: dict[int, str] = {}
    for number, line in enumerate(lines, 1):
        parts = line.split()
        if len(parts) < 3:
            raise ConfigError("kallsyms", f"{path}:{number}", "ADDRESS TYPE NAME")
        try:
            found[int(parts[0], 16)] = parts[2]
        except ValueError:
            raise ConfigError("kallsyms", f"{path}:{number}", "a hex address first") from None
    return found


def _lines(path: Path) -> Iterable[tuple[int, str]]:
    with path.open(encoding="utf-8", errors="replace") as f:
        yield from enumerate(f, 1)


def import_ftrace(
    path: str | os.PathLike[str], *, kallsyms: str | os.PathLike[str] | None = None
) -> Trace:
    """A Linux tracepoint capture as a trace, its time in ns from its first event.

    ``path``: the text of ``perf script`` (``--ns`` or not), of tracefs
    ``trace``/``trace_pipe`` or of ``trace-cmd report``; ``kallsyms`` names the
    locks by symbol (``/proc/kallsyms`` read as root when the capture was made).
    A line cut short or of a known event with unexpected fields is counted and
    reported in ``meta.source``; a file with no event line is a
    :class:`ConfigError`.
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigError("trace text", str(path), "an existing file")
    reader = _Reader(file, {} if kallsyms is None else read_kallsyms(kallsyms))
    header = None
    for number, line in _lines(file):
        if not line.strip():
            continue
        if line.startswith("#"):
            header = header or ("ftrace" if "tracer:" in line else header)
            continue
        if number <= 3 and re.match(r"^(cpus=\d+|version = \d+)", line):
            header = "trace-cmd"
            continue
        reader.take(number, line)
    if not reader.events.rows:
        raise ConfigError(
            "trace text",
            str(path),
            "the text of perf script, tracefs trace or trace-cmd report with at least "
            "one irq, softirq, tasklet, lock contention or workqueue event",
        )
    tool = header if header == "trace-cmd" else reader.tool or "ftrace"
    return _trace(reader, tool)


def _trace(reader: _Reader, tool: str) -> Trace:
    rows = np.asarray(reader.events.rows, dtype=np.int64)
    order = np.argsort(rows[:, 0], kind="stable")  # lines in time order, ties as printed
    rows = rows[order]
    t0 = int(rows[0, 0])
    rows[:, 0] -= t0
    acquire = rows[:, 2] == int(EventKind.LOCK_ACQUIRE)
    rows[acquire, 4] -= t0
    columns = {name: rows[:, k].astype(dtype) for k, (name, dtype) in enumerate(COLUMNS)}
    ncpus = int(rows[:, 1].max()) + 1
    counts: dict[str, Any] = dict(reader.counts)
    counts["other_events"] = dict(sorted(reader.other.items()))
    counts["skipped"] = sum(reader.other.values())
    kinds: tuple[EventKind, ...] = FTRACE_KINDS
    if reader.events.tasks:  # the capture had the scheduler's tracepoints
        kinds = (*kinds, EventKind.RUNSTATE_CHANGE)
    source = TraceSource(
        tool=tool,
        file=reader.path.name,
        kinds=tuple(k.name for k in kinds),
        caveats=(
            *FTRACE_CAVEATS,
            *(() if tool == "perf" else ("timestamps in microseconds unless the clock was ns",)),
        ),
        counts=counts,
        warnings=tuple(reader.warnings),
        details={"time_origin_ns": t0, "lock_flags": list(LOCK_FLAGS)},
    )
    meta = TraceMeta(
        duration_ns=int(rows[-1, 0]) + 1,  # the window [0, duration) holds the last event
        topology={"cpus": ncpus},
        cpu_socket=[0] * ncpus,
        softirqs=list(LINUX_SOFTIRQS),
        irq=reader.events.irq,
        vcpus={n: VcpuInfo("tasks", c) for n, c in reader.events.task_class.items()},
        source=source.as_dict(),
        extra={"host": "linux"},
    )
    return Trace(columns=columns, names=reader.events.names, meta=meta)
