"""A bare-metal Linux host fitted to a trace: a Linux host file's tables.

Two fits, by what the trace came from:

- **A capture, or a Linux host file's run** (:func:`fit_linux_devices`): the
  CPUs; each device vector on the CPU that handled it most; its arrivals fitted
  (:func:`~taskletsim.fit.arrivals.fit_arrivals`), or replayed at their times
  where every family is rejected (:data:`REPLAY_BELOW`); its handler's duration
  (``IRQ_ENTRY`` to ``IRQ_EXIT`` in a capture; in a simulation up to the first
  deferral inside it, ``TASKLET_SCHEDULE`` or ``SOFTIRQ_RAISE``, the deferral
  being the design's own step); its bottom half's duration: the tasklet or work
  item it scheduled (``TASKLET_SCHEDULE`` names the source that caused it),
  else the softirq its handler raised in at least half its runs, less the hard
  interrupts nested in it. Each duration is written as a step cost
  (:func:`cost_of`): the exponential or lognormal of the measured mean (and CV)
  that fits better, else, if the test rejects both, the measured distribution
  itself (``empirical``); the report keeps the measured percentiles beside it.
  Tasks (not the kernel's threads) from their runstates: ``busy`` if they never
  slept, else ``sleeper`` with their mean CPU burst between sleeps (less the
  interrupt time taken from them) and mean sleep, woken by a timer or by other
  work, and the softirqs they raised in task context per burst (with a
  ``[[softirqs]]`` table of each one's run time); on the CPUs they ran on. A
  driver's structure (its locks, a thread waiting for it) is not in a trace:
  the fitted devices are open loops.
- **A run of a built-in Linux scenario** (:func:`fit_linux_scenario`): that
  scenario again, with what its trace shows fitted (CPUs, channels or queues,
  IRQ affinity, threads, hogs, the DMA transfer time, the packet arrivals) and
  the rest carried from the run's parameters, so that its closed loops (a
  ``dmatest`` thread woken by its callback, a reader by its queue) stay closed.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import numpy as np

from ..core.config import ConfigError
from ..core.events import EventKind
from ..core.trace import Trace
from ..metrics.cputime import CpuTimeTracker, cpu_times
from ..metrics.measure import records
from ..metrics.runstates import vcpu_times
from .arrivals import (
    ALPHA,
    KERNEL_HZ,
    MIN_ARRIVALS,
    fit_arrivals,
    process_table,
    source_arrivals,
)
from .durations import paired_rows
from .guests import BLOCKED, RUNNABLE

KERNEL_THREADS = ("ksoftirqd", "irq-thread", "kworker")
"""Task classes that are the kernel's own threads (the model has its own), not fitted."""

REPLAY_BELOW = ALPHA
"""A device whose best-fitting arrival process has a Kolmogorov-Smirnov p-value below this
(every family rejected: none describes it) has its interrupts replayed at their times."""

SCENARIO_FITS = ("linux-dma", "linux-nic-affinity")
"""Built-in Linux scenarios whose own parameters the fit recovers from their runs."""


def fit_linux_host(trace: Trace, sizes: tuple[int, int, int]) -> dict[str, Any]:
    """The fitted tables of a Linux host's trace on ``sizes`` (sockets, cores, threads)."""
    if trace.meta.source is None and trace.meta.scenario in SCENARIO_FITS and trace.meta.params:
        return fit_linux_scenario(trace, sizes)
    return fit_linux_devices(trace, sizes)


# -- a capture, or a host file's run -------------------------------------------------------


def fit_linux_devices(trace: Trace, sizes: tuple[int, int, int]) -> dict[str, Any]:
    """``[host]`` (``kind = "linux"``), ``[[devices]]``, ``[[tasks]]`` and a ``fit`` report.
    A trace with no device of :data:`MIN_ARRIVALS` interrupts and no task is refused."""
    info = trace.meta.irq
    arrivals = source_arrivals(trace)
    simulated = trace.meta.source is None
    params = trace.meta.params if simulated else {}
    handler = _handler_spans(
        trace, params.get("irq_entry_ns", 0), params.get("irq_exit_ns", 0), simulated
    )
    bottom = _bottom_half_spans(trace)
    devices: list[dict[str, Any]] = []
    report: dict[str, Any] = {}
    most = 0
    for sid, irq in enumerate(info):
        when = arrivals.get(irq.name)
        if irq.kind != "device" or when is None:
            continue
        most = max(most, len(when))
        if len(when) < MIN_ARRIVALS or sid not in handler:
            continue
        fitted = fit_arrivals(when)
        cpus, spans = handler[sid]
        replay = fitted.chosen.p_value < REPLAY_BELOW
        device: dict[str, Any] = {
            "name": irq.name,
            "cpu": int(np.bincount(cpus).argmax()),
            **(_replay(when) if replay else process_table(fitted)),
            "handler_ns": cost_of(spans),
        }
        entry: dict[str, Any] = {
            "arrivals": fitted.as_dict(),
            "replayed": replay,
            "handler": summary(spans),
        }
        if sid in bottom:
            what, spans = bottom[sid]
            device["bh_ns"] = cost_of(spans)
            entry["bottom_half"] = {"from": what, **summary(spans)}
        devices.append(device)
        report[irq.name] = entry
    tasks, sleeps = _fit_tasks(trace)
    softirqs = _fit_softirqs(trace, tasks, sleeps, params.get("softirq_dispatch_ns", 0))
    if not devices and not tasks:
        raise ConfigError(
            "trace",
            f"{most} interrupts of its busiest device and no task runstates",
            f"at least {MIN_ARRIVALS} interrupts (IRQ_ENTRY and IRQ_EXIT) of one device, "
            "or the scheduler's tracepoints",
        )
    host = {"kind": "linux", "sockets": sizes[0], "cores_per_socket": sizes[1]}
    host["threads_per_core"] = sizes[2]
    out = {"host": host, "devices": devices, "tasks": tasks, "fit": report}
    if softirqs:
        out["softirqs"] = softirqs
    hz = None if simulated else kernel_hz_of(trace)
    if hz is not None:
        out["params"] = {"hz": hz}
    return out


def kernel_hz_of(trace: Trace) -> int | None:
    """A capture's ``CONFIG_HZ``: the one of :data:`~taskletsim.fit.arrivals.KERNEL_HZ`
    whose period (within 5%) most gaps between a CPU's local timer interrupts have, if
    at least :data:`HZ_SHARE` of them and three do (hrtimers fall between ticks, and an
    idle CPU's tick stops: a capture with neither cannot tell, ``None``)."""
    first, _second = paired_rows(trace, EventKind.IRQ_ENTRY, EventKind.IRQ_EXIT)
    timers = [k for k, i in enumerate(trace.meta.irq) if i.kind == "timer"]
    rows = first[np.isin(trace.subject[first], timers)]
    gaps = [np.diff(np.sort(trace.time_ns[rows[trace.cpu[rows] == c]]).astype(np.float64))
            for c in np.unique(trace.cpu[rows]).tolist()]  # fmt: skip
    every = np.concatenate(gaps) if gaps else np.zeros(0)
    near = {hz: int((np.abs(every * hz / 1e9 - 1) < 0.05).sum()) for hz in KERNEL_HZ}
    hz = max(near, key=lambda h: near[h])
    if near[hz] < 3 or near[hz] < HZ_SHARE * len(every):
        return None
    return hz


HZ_SHARE = 0.2
"""The share of a capture's timer-interrupt gaps one tick period must explain to be taken
as its ``CONFIG_HZ``."""


def _replay(times: np.ndarray) -> dict[str, Any]:
    return {"process": "replay", "times_us": [round(float(t) / 1000, 3) for t in times]}


EMPIRICAL_POINTS = 100
"""Quantiles an ``empirical`` step cost keeps: the middle of each percentile band (0.5%,
1.5%, ..., 99.5%; the cost draws linearly between them, so the last half percent at
each end is clipped: one outlier of a few thousand runs does not become 1% of the
draws, as a line from the 99th percentile to the maximum would make it)."""


def cost_of(spans: np.ndarray) -> int | str:
    """A step cost for durations: a constant if they do not vary, else the exponential of
    their mean or the lognormal of their mean and CV, whichever the Kolmogorov-Smirnov
    statistic finds closer, if the test does not reject it at :data:`ALPHA`; else the
    durations' own distribution (``empirical``: :data:`EMPIRICAL_POINTS` quantiles)."""
    from scipy import stats

    mean = float(spans.mean())
    cv = float(spans.std() / mean) if mean > 0 else 0.0
    if cv < 1e-3:
        return round(mean)
    sigma = float(np.sqrt(np.log1p(cv * cv)))
    scale = mean / float(np.exp(sigma * sigma / 2))
    lognormal = stats.kstest(spans, "lognorm", args=(sigma, 0.0, scale))
    exponential = stats.kstest(spans, "expon", args=(0.0, mean))
    best = min((exponential, "exp"), (lognormal, "lognormal"), key=lambda t: t[0].statistic)
    if best[0].pvalue < ALPHA:
        points = np.quantile(spans, (np.arange(EMPIRICAL_POINTS) + 0.5) / EMPIRICAL_POINTS)
        return "empirical:" + ":".join(f"{q:.6g}" for q in points)
    if best[1] == "exp":
        return f"exp:{mean:.6g}"
    return f"lognormal:{mean:.6g}:{cv:.4g}"


def summary(spans: np.ndarray) -> dict[str, float]:
    """Count, mean, CV and percentiles (ns) of durations."""
    mean = float(spans.mean())
    return {
        "count": len(spans),
        "mean_ns": mean,
        "cv": float(spans.std() / mean) if mean > 0 else 0.0,
        **{f"p{q}_ns": float(np.percentile(spans, q)) for q in (50, 90, 99)},
    }


def _handler_spans(
    trace: Trace, entry_ns: int, exit_ns: int, to_deferral: bool
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per source: the CPU of each handler run, and its duration. A simulation's handler
    does its work, then defers (``to_deferral``): up to its first ``TASKLET_SCHEDULE``
    or ``SOFTIRQ_RAISE`` on its CPU, else to its ``IRQ_EXIT``, less ``irq_entry_ns`` and
    ``irq_exit_ns`` (the model traces the interrupt around them). A real handler raises
    its softirq in the middle of its work, and Linux's tracepoints bracket the handler
    alone: the whole span."""
    entry, leave, cpu, sid = _irq_runs(trace)
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    if not len(entry):
        return out
    end = leave.copy()
    if not to_deferral:
        for s in np.unique(sid).tolist():
            mine = sid == s
            out[s] = (cpu[mine], (leave - entry)[mine])
        return out
    rows = trace.of_kinds(EventKind.TASKLET_SCHEDULE, EventKind.SOFTIRQ_RAISE)
    for c in np.unique(cpu).tolist():
        mine = np.flatnonzero(cpu == c)
        at = np.sort(trace.time_ns[rows[trace.cpu[rows] == c]])
        if not len(at):
            continue
        k = np.searchsorted(at, entry[mine])
        k_ok = k < len(at)
        first = np.where(k_ok, at[np.minimum(k, len(at) - 1)], np.iinfo(np.int64).max)
        end[mine] = np.minimum(leave[mine], first)
    spans = end - entry - entry_ns - np.where(end == leave, exit_ns, 0)
    spans = np.maximum(spans, 0)
    for s in np.unique(sid).tolist():
        mine = sid == s
        out[s] = (cpu[mine], spans[mine])
    return out


def _irq_runs(trace: Trace) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each hard IRQ handler run with its exit: entry time, exit time, CPU, source."""
    first, second = paired_rows(trace, EventKind.IRQ_ENTRY, EventKind.IRQ_EXIT)
    return (
        trace.time_ns[first].astype(np.int64),
        trace.time_ns[second].astype(np.int64),
        trace.cpu[first].astype(np.int64),
        trace.subject[first].astype(np.int64),
    )


def _bottom_half_spans(trace: Trace) -> dict[int, tuple[str, np.ndarray]]:
    """Per source: what its bottom half is (a tasklet or work item, else a softirq) and the
    durations of its runs."""
    out: dict[int, tuple[str, np.ndarray]] = {}
    rows = trace.rows(EventKind.TASKLET_SCHEDULE)
    tasklets = trace.names.names("tasklet")
    caused = Counter(zip(trace.arg[rows].tolist(), trace.subject[rows].tolist(), strict=True))
    spans = _spans(trace, EventKind.TASKLET_ENTRY, EventKind.TASKLET_EXIT)
    for (source, tasklet), _n in caused.most_common():
        if source >= 0 and source not in out and tasklet in spans:
            out[source] = (f"tasklet {tasklets[tasklet]}", spans[tasklet])
    softirqs = _spans(trace, EventKind.SOFTIRQ_ENTRY, EventKind.SOFTIRQ_EXIT)
    names = list(trace.meta.softirqs)
    for source, vector in _raised_in_handlers(trace).items():
        if source not in out and vector in softirqs:
            name = names[vector] if vector < len(names) else str(vector)
            out[source] = (f"softirq {name}", softirqs[vector])
    return out


def _spans(trace: Trace, entry: EventKind, exit_: EventKind) -> dict[int, np.ndarray]:
    """Per subject, each entry's time to the next exit of that subject on that CPU, less
    the hard interrupts that came in between (a bottom half runs with IRQs on: their
    time is not its own)."""
    first, second = paired_rows(trace, entry, exit_)
    subject = trace.subject[first]
    start = trace.time_ns[first].astype(np.int64)
    end = trace.time_ns[second].astype(np.int64)
    span = end - start - _irq_time_within(trace, trace.cpu[first], start, end)
    return {s: span[subject == s] for s in np.unique(subject).tolist()}


def _irq_time_within(
    trace: Trace, cpu: np.ndarray, start: np.ndarray, end: np.ndarray
) -> np.ndarray:
    """Per interval, the hard-IRQ time on its CPU of the handler runs entered within it."""
    irq_entry, irq_exit, irq_cpu, _sid = _irq_runs(trace)
    out = np.zeros(len(start), dtype=np.int64)
    for c in np.unique(cpu).tolist():
        mine = np.flatnonzero(cpu == c)
        here = irq_cpu == c
        at = irq_entry[here]
        order = np.argsort(at, kind="stable")
        at = at[order]
        total = np.r_[0, np.cumsum((irq_exit[here] - irq_entry[here])[order])]
        lo = np.searchsorted(at, start[mine])
        hi = np.searchsorted(at, end[mine])
        out[mine] = total[hi] - total[lo]
    return out


def _raised_in_handlers(trace: Trace) -> dict[int, int]:
    """Per source: the softirq its handler raised in at least half its runs."""
    first, second = paired_rows(trace, EventKind.IRQ_ENTRY, EventKind.IRQ_EXIT)
    sid = trace.subject[first].astype(np.int64)
    rows = trace.rows(EventKind.SOFTIRQ_RAISE)
    run_of = _run_containing(first, second, trace.cpu[first], rows, trace.cpu[rows])
    found = run_of >= 0
    pairs = np.unique(np.stack([run_of[found], trace.subject[rows][found]]), axis=1)
    raised = Counter(zip(sid[pairs[0]].tolist(), pairs[1].tolist(), strict=True))
    runs = Counter(sid.tolist())
    out: dict[int, int] = {}
    for (source, vector), n in raised.most_common():
        if source not in out and 2 * n >= runs[source]:
            out[source] = vector
    return out


def _run_containing(
    entry: np.ndarray, leave: np.ndarray, cpu: np.ndarray, at: np.ndarray, at_cpu: np.ndarray
) -> np.ndarray:
    """For each row ``at`` on ``at_cpu``, the index of the run on that CPU (a handler's, a
    softirq's: they do not nest in their own kind) whose entry and exit rows ``[entry,
    leave]`` hold it, else -1. Rows, not times: an event at a run's entry ns may come
    before it."""
    out = np.full(len(at), -1, dtype=np.int64)
    for c in np.unique(at_cpu).tolist():
        mine = np.flatnonzero(at_cpu == c)
        runs = np.flatnonzero(cpu == c)
        runs = runs[np.argsort(entry[runs], kind="stable")]
        k = np.searchsorted(entry[runs], at[mine], side="right") - 1
        ok = k >= 0
        hit = np.zeros(len(mine), dtype=bool)
        hit[ok] = at[mine][ok] <= leave[runs[k[ok]]]
        out[mine[hit]] = runs[k[hit]]
    return out


def _fit_tasks(trace: Trace) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """``[[tasks]]`` from the runstates, the kernel's own threads left out; a sleeper's
    burst is its running time less the hard-IRQ and softirq time taken from it
    (:func:`~taskletsim.metrics.cputime.cpu_times`, when the trace has the interrupts),
    per sleep."""
    if not trace.rows(EventKind.RUNSTATE_CHANGE).size:
        return [], {}
    owners = trace.meta.vcpus
    rows = trace.rows(EventKind.RUNSTATE_CHANGE)
    running = rows[trace.arg[rows] == 0]
    names = trace.names.names("vcpu")
    ran_on: dict[str, set[int]] = {}
    for v, c in set(zip(trace.subject[running].tolist(), trace.cpu[running].tolist(), strict=True)):
        ran_on.setdefault(names[v], set()).add(c)
    accounted = records(trace.meta, CpuTimeTracker.KINDS)
    taken = cpu_times(trace) if accounted else None
    timer_wakes = _timer_wakes(trace)
    tasks: list[dict[str, Any]] = []
    slept: dict[str, int] = {}
    for name, vt in vcpu_times(trace).items():
        owner = owners.get(name)
        if owner is not None and (owner.workload in KERNEL_THREADS or owner.domain == "kernel"):
            continue
        if name not in ran_on or vt.running_ns <= 0:
            continue
        task: dict[str, Any] = {"name": _task_name(name), "cpus": sorted(ran_on[name])}
        sleeps = vt.intervals["blocked"].count
        slept[task["name"]] = sleeps
        own = vt.running_ns
        if taken is not None:
            own -= taken.task_irq_ns.get(name, 0) + taken.task_softirq_ns.get(name, 0)
        if vt.blocked_ns > 0 and sleeps:
            task["workload"] = "sleeper"
            task["run_us"] = round(max(own, 1) / sleeps / 1000, 3)
            task["block_us"] = round(vt.blocked_ns / sleeps / 1000, 3)
            in_timer, woken = timer_wakes.get(name, (0, 0))
            task["woken_by"] = "timer" if woken and 2 * in_timer >= woken else "task"
        else:
            task["workload"] = "busy"
        tasks.append(task)
    return tasks, slept


DESIGNS_SOFTIRQS = ("HI", "TASKLET")
"""Softirqs whose work is the design's (tasklets, BH work items): not fitted as sources."""


def _fit_softirqs(
    trace: Trace, tasks: list[dict[str, Any]], sleeps: dict[str, int], dispatch_ns: int
) -> list[dict[str, Any]]:
    """The softirqs raised other than by a device's handler, by where they were raised:
    in task context (outside any hard IRQ handler and softirq run, a task running): the
    sleeper's ``raises`` per burst; in a timer interrupt's handler: ``per_timer_irq``,
    per timer handler run; inside a run of their own: ``reraise``, per run (at most
    :data:`MAX_RERAISE`). A ``[[softirqs]]`` table for each, with its run time (its runs
    less the interrupts nested in them, and less ``dispatch_ns``, the host's step the
    model traces inside a run). The design's softirqs (:data:`DESIGNS_SOFTIRQS`) are
    left out."""
    rows = trace.rows(EventKind.SOFTIRQ_RAISE)
    if not len(rows):
        return []
    on = trace.cpu[rows]
    irq_in, irq_out = paired_rows(trace, EventKind.IRQ_ENTRY, EventKind.IRQ_EXIT)
    soft_in, soft_out = paired_rows(trace, EventKind.SOFTIRQ_ENTRY, EventKind.SOFTIRQ_EXIT)
    in_irq = _run_containing(irq_in, irq_out, trace.cpu[irq_in], rows, on)
    in_softirq = _run_containing(soft_in, soft_out, trace.cpu[soft_in], rows, on)
    short = [n.removesuffix("_SOFTIRQ") for n in trace.meta.softirqs]
    vector = trace.subject[rows].astype(np.int64)
    ours = ~np.isin(vector, [k for k, n in enumerate(short) if n in DESIGNS_SOFTIRQS])
    raised: set[int] = set()
    # in task context
    current = _current_task(trace, rows, on)
    keep = ours & (in_irq < 0) & (in_softirq < 0) & (current >= 0)
    vcpus = trace.names.names("vcpu")
    by_name = {t["name"]: t for t in tasks}
    for (task_id, v), n in sorted(
        Counter(zip(current[keep].tolist(), vector[keep].tolist(), strict=True)).items()
    ):
        name = _task_name(vcpus[task_id])
        task = by_name.get(name)
        if task is None or task["workload"] != "sleeper":
            continue  # a busy task's raises: not fitted (it has no bursts to raise at)
        task.setdefault("raises", {})[short[v]] = round(n / sleeps[name], 4)
        raised.add(v)
    # in a timer interrupt
    timers = [k for k, i in enumerate(trace.meta.irq) if i.kind == "timer"]
    timer_runs = int(np.isin(trace.subject[irq_in], timers).sum())
    hit = in_irq >= 0
    in_timer = np.zeros(len(rows), dtype=bool)
    in_timer[hit] = np.isin(trace.subject[irq_in][in_irq[hit]], timers)
    per_timer = Counter(vector[ours & in_timer].tolist())
    # inside a run of their own
    hit = in_softirq >= 0
    own = np.zeros(len(rows), dtype=bool)
    own[hit] = trace.subject[soft_in][in_softirq[hit]] == vector[hit]
    again = Counter(vector[ours & own].tolist())
    runs = Counter(trace.subject[soft_in].tolist())
    spans = _spans(trace, EventKind.SOFTIRQ_ENTRY, EventKind.SOFTIRQ_EXIT)
    out = []
    for v in sorted(raised | set(per_timer) | set(again)):
        if v not in spans:
            continue
        table: dict[str, Any] = {
            "name": short[v],
            "run_ns": cost_of(np.maximum(spans[v] - dispatch_ns, 0)),
        }
        if per_timer[v] and timer_runs:
            table["per_timer_irq"] = round(per_timer[v] / timer_runs, 4)
        if again[v]:
            table["reraise"] = round(min(again[v] / runs[v], MAX_RERAISE), 4)
        out.append(table)
    return out


MAX_RERAISE = 0.99
"""The most re-raises per run a fitted softirq is given (one or more would never end)."""


def _current_task(trace: Trace, at: np.ndarray, on: np.ndarray) -> np.ndarray:
    """The task running on CPU ``on`` at each row ``at`` (its last switch-in there, with
    no runstate change of its own since), else -1."""
    rows = trace.rows(EventKind.RUNSTATE_CHANGE)
    out = np.full(len(at), -1, dtype=np.int64)
    if not len(rows):
        return out
    vid, when = trace.subject[rows].astype(np.int64), rows.astype(np.int64)
    order = np.lexsort((when, vid))
    later = np.full(len(rows), np.iinfo(np.int64).max)
    same = vid[order][1:] == vid[order][:-1]
    later[order[:-1][same]] = when[order][1:][same]
    running = np.flatnonzero(trace.arg[rows] == 0)
    for c in np.unique(on).tolist():
        mine = np.flatnonzero(on == c)
        ins = running[trace.cpu[rows][running] == c]
        ins = ins[np.argsort(when[ins], kind="stable")]
        k = np.searchsorted(when[ins], at[mine], side="right") - 1
        ok = k >= 0
        hit = np.zeros(len(mine), dtype=bool)
        hit[ok] = later[ins[k[ok]]] > at[mine][ok]
        out[mine[hit]] = vid[ins[k[hit]]]
    return out


def _timer_wakes(trace: Trace) -> dict[str, tuple[int, int]]:
    """Per task: its wake-ups (``BLOCKED`` -> ``RUNNABLE``) inside a timer interrupt's
    handler on the CPU that traced them (an hrtimer woke it), and all its wake-ups."""
    rows = trace.rows(EventKind.RUNSTATE_CHANGE)
    vid, state = trace.subject[rows], trace.arg[rows]
    order = np.argsort(vid, kind="stable")
    rows, vid, state = rows[order], vid[order], state[order]
    woke = np.r_[False, (vid[1:] == vid[:-1]) & (state[1:] == RUNNABLE) & (state[:-1] == BLOCKED)]
    rows, vid = rows[woke], vid[woke]
    timers = [s for s, i in enumerate(trace.meta.irq) if i.kind == "timer"]
    first, second = paired_rows(trace, EventKind.IRQ_ENTRY, EventKind.IRQ_EXIT)
    sid = trace.subject[first].astype(np.int64)
    run = _run_containing(first, second, trace.cpu[first], rows, trace.cpu[rows])
    inside = run >= 0
    inside[inside] = np.isin(sid[run[inside]], timers)
    names = trace.names.names("vcpu")
    out: dict[str, tuple[int, int]] = {}
    for v in np.unique(vid).tolist():
        mine = vid == v
        out[names[v]] = (int(inside[mine].sum()), int(mine.sum()))
    return out


def _task_name(name: str) -> str:
    return re.sub(r"[^\w./:-]", "_", name)


# -- a built-in scenario's run ---------------------------------------------------------------


def fit_linux_scenario(trace: Trace, sizes: tuple[int, int, int]) -> dict[str, Any]:
    """``scenario``, its ``params`` (fitted where the trace shows them, else the run's) and
    a ``fit`` report of what was fitted against what the run had."""
    name = trace.meta.scenario
    params = dict(trace.meta.params)
    fitted: dict[str, Any] = {
        "sockets": sizes[0],
        "cores_per_socket": sizes[1],
        "threads_per_core": sizes[2],
    }
    vectors = _main_cpus(trace)
    tasks = trace.names.names("vcpu")
    fitted["hogs"] = sum(1 for t in tasks if re.fullmatch(r"hog\d+", t))
    if name == "linux-dma":
        chans = {n: c for n, c in vectors.items() if re.fullmatch(r"dma\d+:msix", n)}
        _need(chans, "DMA channels' vectors (dmaN:msix)")
        fitted["channels"] = len(chans)
        fitted["irq_affinity"] = _affinity(chans, "single", params["irq_affinity"])
        threads = Counter(t.split(":")[0] for t in tasks if re.fullmatch(r"dma\d+:dmatest\d+", t))
        fitted["threads_per_chan"] = max(threads.values(), default=1)
        xfers = _transfer_times(trace)
        if len(xfers) >= MIN_ARRIVALS:
            fitted["xfer_ns"] = round(float(xfers.mean()), 1)
            fitted["xfer"] = "const" if xfers.std() < 1e-3 * xfers.mean() else "exp"
    else:
        queues = {n: c for n, c in vectors.items() if re.fullmatch(r"rx\d+:msix", n)}
        _need(queues, "RX queues' vectors (rxN:msix)")
        fitted["queues"] = len(queues)
        fitted["irq_affinity"] = _affinity(queues, "concentrated", params["irq_affinity"])
        fitted.update(_packet_arrivals(trace, list(queues)))
    report = {k: {"fitted": v, "run": params.get(k)} for k, v in fitted.items() if k in params}
    return {"scenario": name, "params": {**params, **fitted}, "fit": report}


def _need(found: dict[str, int], what: str) -> None:
    if not found:
        raise ConfigError("trace", "no " + what, "a run of the scenario with its devices")


def _main_cpus(trace: Trace) -> dict[str, int]:
    """Each device vector's name and the CPU that handled it most."""
    rows = trace.rows(EventKind.IRQ_ENTRY)
    subject, cpu = trace.subject[rows], trace.cpu[rows]
    out: dict[str, int] = {}
    for s, irq in enumerate(trace.meta.irq):
        mine = cpu[subject == s]
        if irq.kind == "device" and len(mine):
            out[irq.name] = int(np.bincount(mine).argmax())
    return out


def _affinity(vectors: dict[str, int], together: str, run: str) -> str:
    """``spread`` unless every vector of several was handled on CPU 0 (one vector: the
    run's own setting, the two are the same host)."""
    if len(vectors) == 1:
        return run
    return together if all(c == 0 for c in vectors.values()) else "spread"


def _transfer_times(trace: Trace) -> np.ndarray:
    """Each DMA transfer's time: from the release of its channel's ``vc->lock`` that
    started it (the last before its completion interrupt) to the interrupt (with one
    ``dmatest`` thread per channel, the start; with more, a submission may come between
    and the estimate is low)."""
    locks = trace.names.names("lock")
    rel = trace.rows(EventKind.LOCK_RELEASE)
    raise_rows = trace.rows(EventKind.IRQ_RAISE)
    names = [i.name for i in trace.meta.irq]
    out = []
    for lid, lock in enumerate(locks):
        found = re.fullmatch(r"(dma\d+):vc->lock", lock)
        if not found or f"{found[1]}:msix" not in names:
            continue
        sid = names.index(f"{found[1]}:msix")
        released = np.sort(trace.time_ns[rel[trace.subject[rel] == lid]])
        raised = np.sort(trace.time_ns[raise_rows[trace.subject[raise_rows] == sid]])
        k = np.searchsorted(released, raised, side="right") - 1
        ok = k >= 0
        out.append(raised[ok].astype(np.int64) - released[k[ok]])
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def _packet_arrivals(trace: Trace, queues: list[str]) -> dict[str, Any]:
    """``pps_per_queue`` (the mean of the queues' fitted rates) and ``arrivals`` (the
    family most queues fit), with a burst's mean on and off times for ``onoff``. A
    packet is an MSI raised or one held by the device (``IRQ_COALESCE``)."""
    times = source_arrivals(trace)
    fits = [fit_arrivals(times[q]) for q in queues if len(times.get(q, ())) >= MIN_ARRIVALS]
    if not fits:
        return {}
    family = Counter(f.chosen.family for f in fits).most_common(1)[0][0]
    out: dict[str, Any] = {"arrivals": family}
    chosen = [f.chosen.params for f in fits if f.chosen.family == family]
    if family == "onoff":
        out["pps_per_queue"] = round(float(np.mean([p["rate_per_s"] for p in chosen])), 3)
        out["burst_on_us"] = round(float(np.mean([p["on_ns"] for p in chosen])) / 1000, 3)
        out["burst_off_us"] = round(float(np.mean([p["off_ns"] for p in chosen])) / 1000, 3)
    elif family == "periodic":
        out["pps_per_queue"] = round(1e9 / float(np.mean([p["period_ns"] for p in chosen])), 3)
    else:
        out["pps_per_queue"] = round(float(np.mean([p["rate_per_s"] for p in chosen])), 3)
    return out
