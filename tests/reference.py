"""A deliberately simple, pure-Python reference for the metrics: one pass over the events
in trace order, plain lists and dicts, no numpy. The property tests check the vectorised
metrics against it on random hosts; it shares no code with ``taskletsim.metrics``."""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field

from taskletsim.core.events import (
    COALESCE_DEVICE,
    COALESCE_LAPIC,
    COALESCE_POLLED,
    COALESCE_VIRTUAL,
    EventKind,
)
from taskletsim.core.trace import Trace

ACQUIRE, RELEASE = int(EventKind.LOCK_ACQUIRE), int(EventKind.LOCK_RELEASE)
RUNSTATE = int(EventKind.RUNSTATE_CHANGE)
ENTRY, EXIT = int(EventKind.VM_ENTRY), int(EventKind.VM_EXIT)
RAISE, IRQ_ENTRY = int(EventKind.IRQ_RAISE), int(EventKind.IRQ_ENTRY)
SCHEDULE, TASKLET_ENTRY = int(EventKind.TASKLET_SCHEDULE), int(EventKind.TASKLET_ENTRY)
INJECT, COALESCE = int(EventKind.VIRQ_INJECT), int(EventKind.IRQ_COALESCE)

Events = list[tuple[int, int, int, int, int]]
"""Events as plain tuples (time, cpu, kind, subject, arg), in trace order."""


def rows(trace: Trace) -> Events:
    """The events as plain tuples (time, cpu, kind, subject, arg), in trace order."""
    return list(
        zip(
            trace.time_ns.tolist(),
            trace.cpu.tolist(),
            trace.kind.tolist(),
            trace.subject.tolist(),
            trace.arg.tolist(),
            strict=True,
        )
    )


def percentile(values: list[int], p: float) -> float:
    """The inverted-CDF percentile: the smallest value with at least p% at or below it."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = max(math.ceil(p / 100 * len(ordered)) - 1, 0)
    return float(ordered[k])


@dataclass
class RefLock:
    acquisitions: int = 0
    contentions: int = 0
    bounces: int = 0
    con_bounces: int = 0
    waits: list[int] = field(default_factory=list)
    holds: list[int] = field(default_factory=list)


def lock_stats(
    events: Events, names: list[str], socket_of: list[int], start: int, end: int
) -> dict[str, RefLock]:
    """Per lock: acquisitions in the window, contended ones and their waits, bounces
    (the previous acquisition, in or out of the window, on another socket), holds of
    the acquisitions in the window that were released."""
    out = {name: RefLock() for name in names}
    previous_socket: dict[int, int] = {}
    open_since: dict[int, tuple[int, bool]] = {}
    for t, cpu, kind, lock, arg in events:
        if kind == ACQUIRE:
            ref = out[names[lock]]
            socket = socket_of[cpu]
            bounced = lock in previous_socket and previous_socket[lock] != socket
            previous_socket[lock] = socket
            inside = start <= t < end
            if inside:
                ref.acquisitions += 1
                ref.bounces += bounced
                if arg >= 0:
                    ref.contentions += 1
                    ref.con_bounces += bounced
                    ref.waits.append(t - arg)
            open_since[lock] = (t, inside)
        elif kind == RELEASE:
            since, inside = open_since.pop(lock)
            if inside:
                out[names[lock]].holds.append(t - since)
    return out


def clip(a: int, b: int, start: int, end: int) -> int:
    return max(min(b, end) - max(a, start), 0)


@dataclass
class RefVcpu:
    states: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    guest: int = 0
    intervals: list[list[int]] = field(default_factory=lambda: [[], [], [], []])
    running_on: list[tuple[int, int, int]] = field(default_factory=list)  # start, end, cpu
    woken: int = 0  # RUNNABLE entered from BLOCKED
    periodic_steal: int = 0  # what handled ticks accounted as steal
    periodic_other: int = 0  # and as user, system or idle
    prev_steal: int = 0  # Linux's rq->prev_steal_time, from the window's start


def vcpu_times(
    events: Events,
    names: list[str],
    start: int,
    end: int,
    ticks: set[int] | None = None,
    tick_ns: int = 1_000_000,
) -> dict[str, RefVcpu]:
    """Per vCPU with runstates: ns in each state, guest-mode ns, the intervals of each
    state (clipped, non-empty), where it was RUNNING, the RUNNABLE time entered from
    BLOCKED, and what the ``VIRQ_INJECT`` of the ``ticks`` sources in the window
    account, tick by tick, as Linux 3.x's ``steal_account_process_tick`` does."""
    out: dict[str, RefVcpu] = {}
    current: dict[int, tuple[int, int, int, bool]] = {}  # vcpu -> since, state, cpu, woken
    entered: dict[int, int] = {}
    guest: dict[int, int] = {}

    def close(v: int, until: int) -> None:
        since, state, cpu, woken = current[v]
        span = clip(since, max(until, since), start, end)
        ref = out[names[v]]
        ref.states[state] += span
        if span > 0:
            ref.intervals[state].append(span)
        if woken:
            ref.woken += span
        if state == 0 and until > since:
            ref.running_on.append((since, until, cpu))

    for t, cpu, kind, v, arg in events:
        if kind == RUNSTATE:
            out.setdefault(names[v], RefVcpu())
            old = current[v][1] if v in current else -1
            if v in current:
                close(v, t)
            current[v] = (t, arg, cpu, arg == 1 and old == 2)
        elif kind == ENTRY:
            entered[v] = t
        elif kind == EXIT and v in entered:
            guest[v] = guest.get(v, 0) + clip(entered.pop(v), t, start, end)
        elif kind == INJECT and ticks and v in ticks and start <= t < end:
            ref = out[names[arg]]
            since, state, _, _ = current[arg]
            steal = ref.states[1] + ref.states[3]
            if state in (1, 3):
                steal += clip(since, t, start, end)
            stolen_ticks = (steal - ref.prev_steal) // tick_ns
            ref.prev_steal += stolen_ticks * tick_ns
            if stolen_ticks:
                ref.periodic_steal += stolen_ticks * tick_ns
            else:
                ref.periodic_other += tick_ns
    for v in current:
        close(v, end)
    for v, t in entered.items():
        guest[v] = guest.get(v, 0) + clip(t, end, start, end)
    for v, ns in guest.items():
        if names[v] in out:
            out[names[v]].guest = ns
    return out


def union(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def lock_wait_in_running(
    events: Events, vcpus: dict[str, RefVcpu], start: int, end: int
) -> dict[str, int]:
    """ns each vCPU was RUNNING on a pCPU while that pCPU spun on a lock (spins from the
    contended acquisition's contend time to its acquisition, counted once where they
    overlap)."""
    spins: dict[int, list[tuple[int, int]]] = {}
    for t, cpu, kind, _lock, arg in events:
        if kind == ACQUIRE and arg >= 0:
            a, b = max(arg, start), min(t, end)
            if b > a:
                spins.setdefault(cpu, []).append((a, b))
    merged = {cpu: union(v) for cpu, v in spins.items()}
    out = {}
    for name, ref in vcpus.items():
        total = 0
        for since, until, cpu in ref.running_on:
            a, b = max(since, start), min(until, end)
            for x, y in merged.get(cpu, []):
                total += max(min(b, y) - max(a, x), 0)
        out[name] = total
    return out


def latency(
    events: Events, kinds: list[str], start: int, end: int
) -> dict[int, dict[str, tuple[list[int], list[int]]]]:
    """Per device or timer source: for each stage, (latencies of the interrupts raised in
    the window that reached it, waits to the window's end of those that did not). The
    handler is the IRQ entry with the raise's sequence number; the tasklet the first
    entry of the tasklet the source scheduled first after that handler; the vIRQ the
    source's first injection after that (after the handler if it defers nothing)."""
    first_entry: dict[tuple[int, int], int] = {}
    schedules: dict[int, list[int]] = {}  # source -> rows
    tasklet_runs: dict[int, list[int]] = {}  # tasklet -> rows
    injections: dict[int, list[int]] = {}  # source -> rows
    for row, (_t, _cpu, kind, subject, arg) in enumerate(events):
        if kind == IRQ_ENTRY:
            first_entry.setdefault((subject, arg), row)
        elif kind == SCHEDULE:
            schedules.setdefault(arg, []).append(row)
        elif kind == TASKLET_ENTRY:
            tasklet_runs.setdefault(subject, []).append(row)
        elif kind == INJECT:
            injections.setdefault(subject, []).append(row)

    def after(candidates: list[int], row: int) -> int:
        if row < 0:
            return -1
        i = bisect_right(candidates, row)
        return candidates[i] if i < len(candidates) else -1

    out: dict[int, dict[str, tuple[list[int], list[int]]]] = {}
    for s, kind in enumerate(kinds):
        if kind not in ("device", "timer"):
            continue
        stages = ["handler"]
        if s in schedules:
            stages.append("tasklet")
        if s in injections:
            stages.append("virq")
        out[s] = {stage: ([], []) for stage in stages}
    for t, _cpu, kind, s, seq in events:
        if kind != RAISE or s not in out or not start <= t < end:
            continue
        handler = first_entry.get((s, seq), -1)
        reached = {"handler": handler}
        sched = after(schedules.get(s, []), handler)
        run = -1
        if sched >= 0:
            run = after(tasklet_runs.get(events[sched][3], []), sched)
        reached["tasklet"] = run
        anchor = run if s in schedules else handler
        reached["virq"] = after(injections.get(s, []), anchor)
        for stage, (done, pending) in out[s].items():
            r = reached[stage]
            if r >= 0:
                done.append(events[r][0] - t)
            else:
                pending.append(end - t)
    return out


def irq_counts(events: Events, start: int, end: int) -> dict[int, dict[str, int]]:
    """Per source: raised, coalesced (into a pending vector), held, polled, merged into a
    pending virtual interrupt, injected, in the window."""
    names = {COALESCE_LAPIC: "coalesced", COALESCE_DEVICE: "held", COALESCE_POLLED: "polled",
             COALESCE_VIRTUAL: "virq_coalesced"}  # fmt: skip
    out: dict[int, dict[str, int]] = {}
    for t, _cpu, kind, s, arg in events:
        if not start <= t < end:
            continue
        key = {RAISE: "raised", INJECT: "injected"}.get(kind)
        if kind == COALESCE:
            key = names[arg]
        if key is not None:
            counts = out.setdefault(s, {})
            counts[key] = counts.get(key, 0) + 1
    return out
