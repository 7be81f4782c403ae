"""Invariants every valid trace satisfies, checked from the trace alone.

Each has a name, carried by the :class:`InvariantError` that reports it:

- ``time-order``: the trace is in time order, and time never goes back on a CPU;
- ``lock-holder``: a lock never has two holders (acquisitions and releases
  alternate, and the releaser is the holder);
- ``lock-released``: (with ``drained=True``) every lock is free at the end: a
  path that took it and never let it go (a step begun and never driven) shows
  here;
- ``lock-fifo``: a lock whose kind grants in arrival order (ticket, queued/MCS,
  any kind with ``fifo_grants``: ``meta.fifo_locks``) is granted in the order
  its waiters started waiting (``LOCK_CONTEND``);
- ``irqs-off``: a hard IRQ is never taken where interrupts are disabled:
  inside another hard IRQ on the same CPU, or while the CPU spins on a lock
  with interrupts disabled;
- ``tasklet-runner``: a tasklet never runs on two CPUs at once (entries and
  exits alternate);
- ``tasklet-scheduled``: every run of a tasklet was scheduled since its
  previous run began;
- ``tasklet-lost``: (with ``drained=True``, for a run that ended quiet)
  every schedule was followed by a run;
- ``tasklet-lock``: a tasklet its design guards with a lock
  (``meta.tasklet_locks``) is scheduled and claimed only by the lock's holder;
- ``latency``: no interrupt reaches a stage (handler, tasklet, vIRQ) before
  it was raised;
- ``virq-raised``: a source never has more vIRQs injected than interrupts
  raised, but for the periodic timers in ``meta.extra["scheduler_ticks"]``:
  ``schedule()`` sends a tick that fell due while their vCPU was descheduled
  (``vcpu_periodic_timer_work``) with no interrupt behind it;
- ``runstates``: every guest vCPU's four runstate times add up to the run's
  duration.
"""

from __future__ import annotations

import numpy as np

from ..core.events import EventKind
from ..core.trace import Trace
from .common import stable_order
from .latency import irq_chains
from .runstates import vcpu_times

INVARIANTS = (
    "time-order",
    "lock-holder",
    "lock-released",
    "lock-fifo",
    "irqs-off",
    "tasklet-runner",
    "tasklet-scheduled",
    "tasklet-lost",
    "tasklet-lock",
    "latency",
    "virq-raised",
    "runstates",
)
"""The names of the invariants :func:`check_trace` checks, in the order it checks them."""

LEGACY_FIFO_KINDS = ("ticket", "mcs")
"""The lock kinds granted in arrival order, for a trace saved before 0.2.0 (which has no
``meta.fifo_locks``)."""


class InvariantError(AssertionError):
    """A trace breaks an invariant; ``invariant`` names it (one of :data:`INVARIANTS`)
    and the message says where."""

    def __init__(self, invariant: str, message: str) -> None:
        self.invariant = invariant
        self.detail = message
        super().__init__(f"{invariant}: {message}")

    def __reduce__(self) -> tuple[type[InvariantError], tuple[str, str]]:
        """Pickled with its fields, so that it crosses from a worker process."""
        return (type(self), (self.invariant, self.detail))


def _running_sum(group: np.ndarray, step: np.ndarray) -> np.ndarray:
    """The running sum of ``step`` within each run of equal ``group`` values (``group``
    sorted, so that each group is one run)."""
    start = np.r_[0, np.flatnonzero(group[1:] != group[:-1]) + 1]
    level = np.cumsum(step)
    base = np.repeat(np.r_[0, level[start[1:] - 1]], np.diff(np.r_[start, len(group)]))
    result: np.ndarray = level - base
    return result


def _at(trace: Trace, row: int) -> str:
    return f"at {int(trace.time_ns[row])} ns on CPU {int(trace.cpu[row])}"


def _pairs_alternate(
    trace: Trace, first: EventKind, second: EventKind, what: str, invariant: str
) -> None:
    rows = trace.of_kinds(first, second)
    order = stable_order(trace.subject[rows])
    rows = rows[order]
    subject = trace.subject[rows]
    kind = trace.kind[rows]
    starts = np.flatnonzero(np.r_[True, subject[1:] != subject[:-1]])
    position = np.arange(len(rows)) - np.repeat(starts, np.diff(np.r_[starts, len(rows)]))
    expected = np.where(position % 2 == 0, int(first), int(second))
    bad = np.flatnonzero(kind != expected)
    if len(bad):
        row = rows[bad[0]]
        raise InvariantError(
            invariant,
            f"{what} {int(trace.subject[row])}: {EventKind(int(trace.kind[row])).name} "
            f"{_at(trace, row)} out of turn",
        )
    pair_first = (position % 2 == 0) & (np.r_[position[1:], 0] == position + 1)
    a = rows[pair_first]
    b = rows[np.flatnonzero(pair_first) + 1]
    wrong = np.flatnonzero(trace.cpu[a] != trace.cpu[b])
    if len(wrong):
        row = b[wrong[0]]
        raise InvariantError(
            invariant,
            f"{what} {int(trace.subject[row])}: ended on CPU {int(trace.cpu[row])} "
            f"at {int(trace.time_ns[row])} ns, begun on CPU {int(trace.cpu[a[wrong[0]]])}",
        )


def _runs_were_scheduled(trace: Trace, drained: bool) -> None:
    """Each run of a tasklet had a schedule since its previous run began; with
    ``drained``, no schedule comes after the last run. Vectorised over all tasklets."""
    rows = trace.of_kinds(EventKind.TASKLET_SCHEDULE, EventKind.TASKLET_ENTRY)
    rows = rows[stable_order(trace.subject[rows])]
    n = len(rows)
    if not n:
        return
    subject = trace.subject[rows]
    is_entry = trace.kind[rows] == EventKind.TASKLET_ENTRY
    index = np.arange(n)
    group_start = np.maximum.accumulate(
        np.where(np.r_[True, subject[1:] != subject[:-1]], index, 0)
    )
    last_entry = np.maximum.accumulate(np.where(is_entry, index, -1))
    prev_entry = np.r_[-1, last_entry[:-1]]
    since = np.where(prev_entry >= group_start, prev_entry + 1, group_start)
    scheds_before = np.r_[0, np.cumsum(~is_entry)]  # schedules among the first k rows
    unscheduled = is_entry & (scheds_before[index] - scheds_before[since] == 0)
    if unscheduled.any():
        row = rows[np.argmax(unscheduled)]
        raise InvariantError(
            "tasklet-scheduled",
            f"tasklet {int(trace.subject[row])} ran at {int(trace.time_ns[row])} ns unscheduled",
        )
    if drained:
        group_end = np.r_[np.flatnonzero(subject[1:] != subject[:-1]), n - 1]
        lost = ~is_entry[group_end]  # the group's last event is a schedule
        if lost.any():
            row = rows[group_end[np.argmax(lost)]]
            raise InvariantError(
                "tasklet-lost",
                f"tasklet {int(trace.subject[row])} scheduled at {int(trace.time_ns[row])} ns "
                "never ran",
            )


def _nth(key: np.ndarray) -> np.ndarray:
    """For each element, how many equal keys come before it."""
    order = stable_order(key)
    k = key[order]
    start = np.r_[0, np.flatnonzero(k[1:] != k[:-1]) + 1]
    nth = np.arange(len(k)) - np.repeat(start, np.diff(np.r_[start, len(k)]))
    out = np.empty(len(key), dtype=np.int64)
    out[order] = nth
    return out


def _matched_contends(trace: Trace, acquired: np.ndarray) -> np.ndarray:
    """For each contended acquisition (rows, in order), the row of its ``LOCK_CONTEND``
    (-1 if none): the one of the same lock and CPU at the time the acquisition says it
    began waiting, the k-th such acquisition matching the k-th such contention."""
    contends = trace.rows(EventKind.LOCK_CONTEND)
    found = np.full(len(acquired), -1, dtype=np.int64)
    if not len(acquired) or not len(contends):
        return found
    span = int(trace.cpu.max()) + 1
    horizon = int(max(trace.time_ns[-1], trace.arg[acquired].max())) + 1

    def place(rows: np.ndarray, at: np.ndarray) -> np.ndarray:
        key: np.ndarray = trace.subject[rows].astype(np.int64) * span + trace.cpu[rows]
        out: np.ndarray = key * horizon + at
        return out

    c_key = place(contends, trace.time_ns[contends].astype(np.int64))
    a_key = place(acquired, trace.arg[acquired].astype(np.int64))
    c_nth, a_nth = _nth(c_key), _nth(a_key)
    many = int(max(c_nth.max(), a_nth.max())) + 1
    if int(max(c_key.max(), a_key.max())) >= (1 << 62) // many:
        raise ValueError("trace too large for the lock invariants' keys")
    c_code, a_code = c_key * many + c_nth, a_key * many + a_nth
    order = np.argsort(c_code)
    idx = np.searchsorted(c_code[order], a_code)
    ok = idx < len(order)
    ok[ok] = c_code[order][idx[ok]] == a_code[ok]
    found[ok] = contends[order[idx[ok]]]
    return found


def _locks_released(trace: Trace) -> None:
    """Every lock's last acquisition has its release (acquisitions and releases alternate,
    checked before: so a lock acquired more often than released is held at the end)."""
    rows = trace.of_kinds(EventKind.LOCK_ACQUIRE, EventKind.LOCK_RELEASE)
    step = np.where(trace.kind[rows] == int(EventKind.LOCK_ACQUIRE), 1, -1)
    held = np.bincount(trace.subject[rows], weights=step, minlength=1)
    if held.any():
        lock = int(np.flatnonzero(held)[0])
        last = rows[trace.subject[rows] == lock][-1]
        name = trace.names.name("lock", lock)
        raise InvariantError(
            "lock-released", f"lock {name} still held at the end, taken {_at(trace, last)}"
        )


def _fifo_lock_ids(trace: Trace) -> np.ndarray:
    """The ids of the locks granted in arrival order (``meta.fifo_locks``)."""
    names = trace.names.names("lock")
    fifo = trace.meta.fifo_locks
    if fifo is None:  # saved before 0.2.0: one lock kind, known by its name
        fifo = names if trace.meta.lock_kind in LEGACY_FIFO_KINDS else []
    chosen = set(fifo)
    return np.array([i for i, name in enumerate(names) if name in chosen], dtype=np.int64)


def _fifo(trace: Trace) -> None:
    fifo = _fifo_lock_ids(trace)
    if not len(fifo):
        return
    acquire = trace.rows(EventKind.LOCK_ACQUIRE)
    acquire = acquire[np.isin(trace.subject[acquire], fifo)]
    acquired = acquire[trace.arg[acquire] >= 0]
    joined = _matched_contends(trace, acquired)
    missing = np.flatnonzero(joined < 0)
    if len(missing):
        row = acquired[missing[0]]
        raise InvariantError(
            "lock-fifo", f"lock {int(trace.subject[row])}: contended acquisition "
            f"{_at(trace, row)} without its LOCK_CONTEND",
        )  # fmt: skip
    lock = trace.subject[acquired]
    order = stable_order(lock)  # per lock, in grant order
    lock, joined, granted = lock[order], joined[order], acquired[order]
    same = lock[1:] == lock[:-1]
    out_of_order = np.flatnonzero(same & (joined[1:] < joined[:-1]))
    if len(out_of_order):
        k = out_of_order[0] + 1
        row = granted[k]
        raise InvariantError(
            "lock-fifo",
            f"FIFO lock {int(lock[k])} granted {_at(trace, row)} to a waiter "
            f"that came after the one granted before it ({int(trace.time_ns[joined[k]])} ns "
            f"vs {int(trace.time_ns[joined[k - 1]])} ns)",
        )


def _irqs_off(trace: Trace) -> None:
    """No ``IRQ_ENTRY`` inside another hard IRQ, or inside an IRQ-off spin, on its CPU."""
    entry, exit_ = int(EventKind.IRQ_ENTRY), int(EventKind.IRQ_EXIT)
    contend, acquire = int(EventKind.LOCK_CONTEND), int(EventKind.LOCK_ACQUIRE)
    rows = trace.of_kinds(EventKind.IRQ_ENTRY, EventKind.IRQ_EXIT)
    off_spins = trace.rows(EventKind.LOCK_CONTEND)
    off_spins = off_spins[trace.arg[off_spins] == 1]
    if not len(rows):
        return
    acquired = trace.rows(EventKind.LOCK_ACQUIRE)
    acquired = acquired[trace.arg[acquired] >= 0]
    ends = acquired[np.isin(_matched_contends(trace, acquired), off_spins)]
    rows = np.sort(np.concatenate([rows, off_spins, ends]))
    kind, cpu = trace.kind[rows], trace.cpu[rows].astype(np.int64)
    step = np.select(
        [kind == entry, kind == exit_, kind == contend, kind == acquire], [1, -1, 1, -1], 0
    )
    order = stable_order(cpu)
    cpu, step, kind, rows = cpu[order], step[order], kind[order], rows[order]
    depth_before = _running_sum(cpu, step) - step  # IRQ-off contexts open before this row
    nested = np.flatnonzero((kind == entry) & (depth_before > 0))
    if len(nested):
        row = rows[nested[0]]
        raise InvariantError(
            "irqs-off",
            f"IRQ {int(trace.subject[row])} taken {_at(trace, row)} with interrupts disabled "
            "(inside a hard IRQ or an IRQ-off spin)",
        )


def _latency(trace: Trace) -> None:
    chains = irq_chains(trace, 0, int(trace.time_ns[-1]) + 1 if len(trace) else 0, kinds=None)
    t_raise = trace.time_ns[chains.raise_row]
    for stage, rows in (("handler", chains.handler), ("tasklet", chains.tasklet),
                        ("virq", chains.virq)):  # fmt: skip
        reached = rows >= 0
        early = np.flatnonzero(reached & (trace.time_ns[np.maximum(rows, 0)] < t_raise))
        if len(early):
            k = early[0]
            raise InvariantError(
                "latency",
                f"IRQ source {int(chains.source[k])}: {stage} at "
                f"{int(trace.time_ns[rows[k]])} ns before the raise at {int(t_raise[k])} ns",
            )
    entries = trace.rows(EventKind.IRQ_ENTRY)
    raises = trace.rows(EventKind.IRQ_RAISE)
    span = len(trace) + 1
    key_r = trace.subject[raises].astype(np.int64) * span + trace.arg[raises]
    key_e = trace.subject[entries].astype(np.int64) * span + trace.arg[entries]
    order = stable_order(key_r)
    idx = np.searchsorted(key_r[order], key_e)
    hit = idx < len(order)
    hit[hit] = key_r[order][idx[hit]] == key_e[hit]
    unraised = np.flatnonzero(~hit)
    early = np.flatnonzero(hit)
    early = early[raises[order][idx[early]] > entries[early]]
    for bad in (unraised, early):
        if len(bad):
            row = entries[bad[0]]
            raise InvariantError(
                "latency",
                f"IRQ {int(trace.subject[row])} #{int(trace.arg[row])} handled {_at(trace, row)} "
                "before it was raised",
            )


def _virq_raised(trace: Trace) -> None:
    rows = trace.of_kinds(EventKind.IRQ_RAISE, EventKind.VIRQ_INJECT)
    exempt = trace.meta.extra.get("scheduler_ticks", [])
    if exempt:
        rows = rows[~np.isin(trace.subject[rows], exempt)]
    source = trace.subject[rows]
    order = stable_order(source)
    rows, source = rows[order], source[order]
    step = np.where(trace.kind[rows] == EventKind.IRQ_RAISE, 1, -1)
    over = np.flatnonzero(_running_sum(source, step) < 0)
    if len(over):
        row = rows[over[0]]
        raise InvariantError(
            "virq-raised",
            f"IRQ source {int(trace.subject[row])}: vIRQ injected {_at(trace, row)} with no "
            "interrupt raised for it",
        )


def _tasklet_lock(trace: Trace) -> None:
    guards = trace.meta.tasklet_locks
    if not guards:
        return
    tasklets = trace.names.names("tasklet")
    locks = trace.names.names("lock")
    lock_of = np.full(len(tasklets) + 1, -1, dtype=np.int64)
    for name, lock in guards.items():
        if name in tasklets and lock in locks:
            lock_of[tasklets.index(name)] = locks.index(lock)
    events = trace.of_kinds(EventKind.TASKLET_SCHEDULE, EventKind.TASKLET_ENTRY)
    guard = lock_of[np.minimum(trace.subject[events], len(tasklets))]
    events, guard = events[guard >= 0], guard[guard >= 0]
    lock_rows = trace.of_kinds(EventKind.LOCK_ACQUIRE, EventKind.LOCK_RELEASE)
    for lock in np.unique(guard).tolist():
        mine = lock_rows[trace.subject[lock_rows] == lock]
        these = events[guard == lock]
        last = np.searchsorted(mine, these) - 1  # the lock's last event before each
        held = last >= 0
        held[held] = trace.kind[mine[last[held]]] == EventKind.LOCK_ACQUIRE
        holder = np.where(held, trace.cpu[mine[np.maximum(last, 0)]], -1)
        bad = np.flatnonzero(holder != trace.cpu[these])
        if len(bad):
            row = these[bad[0]]
            what = EventKind(int(trace.kind[row])).name
            raise InvariantError(
                "tasklet-lock",
                f"tasklet {tasklets[int(trace.subject[row])]}: {what} {_at(trace, row)} "
                f"without holding {locks[lock]}",
            )


def check_trace(trace: Trace, drained: bool = False) -> None:
    """Raise :class:`InvariantError` if ``trace`` breaks an invariant (see the module doc)."""
    time = trace.time_ns
    back = np.flatnonzero(time[1:] < time[:-1])
    if len(back):
        row = int(back[0]) + 1
        raise InvariantError("time-order", f"time goes back {_at(trace, row)}")
    _pairs_alternate(trace, EventKind.LOCK_ACQUIRE, EventKind.LOCK_RELEASE, "lock", "lock-holder")
    if drained:
        _locks_released(trace)
    _fifo(trace)
    _irqs_off(trace)
    _pairs_alternate(
        trace, EventKind.TASKLET_ENTRY, EventKind.TASKLET_EXIT, "tasklet", "tasklet-runner"
    )
    _runs_were_scheduled(trace, drained)
    _tasklet_lock(trace)
    _latency(trace)
    _virq_raised(trace)
    if trace.meta.duration_ns is not None:
        for name, t in vcpu_times(trace).items():
            total = t.running_ns + t.runnable_ns + t.blocked_ns + t.offline_ns
            if total != t.window_ns:
                raise InvariantError(
                    "runstates", f"vCPU {name}: runstates add up to {total}, not {t.window_ns}"
                )
