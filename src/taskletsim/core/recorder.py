"""Recording a run's events: the staging list, the typed columns, the memory budget.

While a run is going, :class:`TraceRecorder` stages each event's five
integers (:mod:`taskletsim.core.events`) in one flat list and moves them, a
fraction of a simulated millisecond at a time, into typed numpy columns: no
Python object outlives that. :meth:`TraceRecorder.finish` turns the columns
into a :class:`~taskletsim.core.trace.Trace`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .config import ConfigError
from .events import COLUMNS, EventKind
from .trace import NameTable, Trace, TraceMeta

if TYPE_CHECKING:
    from .sim import Clock

SETTLED_NS = 1_000_000
"""Simulated time after which a run's event rate is taken as its own (a host starts with a
burst): the rate the columns are sized by and the memory budget projects is measured from
the first flush at or after it."""


@dataclass(frozen=True)
class MemoryBudget:
    """What a run may hold: refuse it, as early as its event rate shows, when the
    events it is heading for would not fit (instead of being killed for memory).

    ``bytes_per_event`` is what a run holds per event at its peak, metrics
    included (an estimate: about 64 with the trace kept, 1 metrics-only);
    ``limit_bytes`` what it may use; ``available_bytes`` what the machine had.
    """

    limit_bytes: int
    bytes_per_event: int
    available_bytes: int | None = None
    metrics_only: bool = False

    def check(self, events: int, now_ns: int, end_ns: int | None, since: tuple[int, int]) -> None:
        """Raise :class:`ConfigError` if the run, ``events`` in by ``now_ns``, would need
        more than ``limit_bytes`` by ``end_ns`` at the rate it has had since ``since``
        (events, time: its first flush, after the start-up burst of a host)."""
        if not end_ns:
            return
        base_events, base_ns = since
        projected = float(events)
        if now_ns > base_ns and end_ns > now_ns:
            projected += (events - base_events) * (end_ns - now_ns) / (now_ns - base_ns)
        need = projected * self.bytes_per_event
        if need <= self.limit_bytes:
            return
        fit_ms = end_ns / 1e6 * self.limit_bytes / need
        where = (
            f"{_size(self.available_bytes)} available"
            if self.available_bytes is not None
            else "the limit set for it, max_memory_mb"
        )
        ways = f"a shorter run (at most ~{fit_ms:.3g} ms at this rate), fewer CPUs or guests"
        if not self.metrics_only:
            ways += ", or metrics-only (--metrics-only: ~1 byte an event, no trace kept)"
        raise ConfigError(
            "run size",
            f"~{projected:.3g} events in {end_ns / 1e6:g} ms simulated, ~{_size(need)}",
            f"a run within {_size(self.limit_bytes)} ({where}): {ways}",
        )


def _size(n: float) -> str:
    """Bytes in KiB, MiB or GiB."""
    if n >= 2**30:
        return f"{n / 2**30:.1f} GiB"
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


class _Epoch:
    """The clock of a recorder no simulation drives: always at 0."""

    now = 0


class Tracepoints:
    """How the model records an event: one method per :class:`EventKind`, named after it
    and after the tracepoint it mirrors, appending one row at the clock's time.

    ``cpu`` is the CPU the event happens on; the other arguments are the row's subject
    and arg as :class:`EventKind` defines them. Each method is one call and one
    ``append`` (the kind is a constant: an IntEnum member loads ~4x as slowly as one).
    """

    clock: Clock
    """The simulation's clock (set by :class:`~taskletsim.core.sim.Simulation`)."""
    append: Callable[[tuple[int, int, int, int, int]], None]

    def irq_raise(self, cpu: int, irq: int, seq: int) -> None:
        """``IRQ_RAISE``: source ``irq``'s ``seq``-th interrupt reaches ``cpu``'s local APIC."""
        self.append((self.clock.now, cpu, 0, irq, seq))

    def irq_entry(self, cpu: int, irq: int, seq: int) -> None:
        """``IRQ_ENTRY``: ``do_IRQ`` runs its handler (Linux ``irq:irq_handler_entry``)."""
        self.append((self.clock.now, cpu, 1, irq, seq))

    def irq_exit(self, cpu: int, irq: int, seq: int) -> None:
        """``IRQ_EXIT``: the handler returned (``irq:irq_handler_exit``)."""
        self.append((self.clock.now, cpu, 2, irq, seq))

    def softirq_raise(self, cpu: int, nr: int, target: int) -> None:
        """``SOFTIRQ_RAISE``: ``cpu`` raises softirq ``nr`` on CPU ``target``
        (``irq:softirq_raise``)."""
        self.append((self.clock.now, cpu, 3, nr, target))

    def softirq_entry(self, cpu: int, nr: int) -> None:
        """``SOFTIRQ_ENTRY``: softirq ``nr``'s action starts (``irq:softirq_entry``)."""
        self.append((self.clock.now, cpu, 4, nr, 0))

    def softirq_exit(self, cpu: int, nr: int) -> None:
        """``SOFTIRQ_EXIT``: softirq ``nr``'s action returned (``irq:softirq_exit``)."""
        self.append((self.clock.now, cpu, 5, nr, 0))

    def tasklet_schedule(self, cpu: int, tasklet: int, cause: int) -> None:
        """``TASKLET_SCHEDULE``: ``tasklet`` scheduled, by IRQ source ``cause`` (-1: none)."""
        self.append((self.clock.now, cpu, 6, tasklet, cause))

    def tasklet_entry(self, cpu: int, tasklet: int) -> None:
        """``TASKLET_ENTRY``: ``cpu`` claims ``tasklet`` to run it (``irq:tasklet_entry``)."""
        self.append((self.clock.now, cpu, 7, tasklet, -1))

    def tasklet_exit(self, cpu: int, tasklet: int) -> None:
        """``TASKLET_EXIT``: ``tasklet``'s function returned (``irq:tasklet_exit``)."""
        self.append((self.clock.now, cpu, 8, tasklet, -1))

    def lock_contend(self, cpu: int, lock: int, irqs_off: bool) -> None:
        """``LOCK_CONTEND``: ``cpu`` starts waiting on ``lock``, spinning with interrupts
        disabled or not (``lock:contention_begin``)."""
        self.append((self.clock.now, cpu, 9, lock, 1 if irqs_off else 0))

    def lock_acquire(self, cpu: int, lock: int, since: int) -> None:
        """``LOCK_ACQUIRE``: ``cpu`` holds ``lock``; ``since`` is when it began waiting, or
        -1 (``lock:contention_end`` and the acquisition)."""
        self.append((self.clock.now, cpu, 10, lock, since))

    def lock_release(self, cpu: int, lock: int) -> None:
        """``LOCK_RELEASE``: ``cpu`` releases ``lock``."""
        self.append((self.clock.now, cpu, 11, lock, 0))

    def runstate_change(self, cpu: int, vcpu: int, runstate: int) -> None:
        """``RUNSTATE_CHANGE``: ``vcpu`` enters ``runstate`` (Xen
        ``TRC_SCHED_RUNSTATE_CHANGE``)."""
        self.append((self.clock.now, cpu, 12, vcpu, runstate))

    def virq_inject(self, cpu: int, irq: int, vcpu: int) -> None:
        """``VIRQ_INJECT``: source ``irq``'s virtual interrupt reaches ``vcpu`` (Xen
        ``TRC_HVM_INJ_VIRQ``)."""
        self.append((self.clock.now, cpu, 13, irq, vcpu))

    def vm_exit(self, cpu: int, vcpu: int, reason: int) -> None:
        """``VM_EXIT``: ``vcpu`` stops running guest code, for VMX exit ``reason`` (Xen
        ``TRC_HVM_VMEXIT``)."""
        self.append((self.clock.now, cpu, 14, vcpu, reason))

    def vm_entry(self, cpu: int, vcpu: int) -> None:
        """``VM_ENTRY``: ``vcpu`` starts running guest code (Xen ``TRC_HVM_VMENTRY``)."""
        self.append((self.clock.now, cpu, 15, vcpu, 0))

    def irq_coalesce(self, cpu: int, irq: int, level: int) -> None:
        """``IRQ_COALESCE``: an arrival of source ``irq`` merges into a request pending at
        ``level`` (a ``COALESCE_*`` constant)."""
        self.append((self.clock.now, cpu, 16, irq, level))


class TraceRecorder(Tracepoints):
    """Collects events during a run.

    The model records through the :class:`Tracepoints`, each of which ends in
    ``append((time_ns, cpu, kind, subject, arg))``: the ``extend`` of a flat
    list (the staging buffer), one C call (``list.extend`` takes a tuple in
    about a tenth of the time ``array.extend`` does: the ints are converted
    once per flush, in bulk). Pass ``kinds`` to record only some event kinds.

    :meth:`flush`, called by the simulation every
    :attr:`~taskletsim.core.sim.Simulation.FLUSH_NS` of simulated time, moves
    the staged events into typed column arrays (23 bytes an event; a value
    that is not an int fails there), grown in place with ``realloc`` to the
    size the run is heading for, so that a long run holds little more than
    its final trace.
    """

    def __init__(
        self,
        kinds: Iterable[EventKind] | None = None,
        sink: Callable[[dict[str, np.ndarray]], None] | None = None,
        keep: bool = True,
    ) -> None:
        """``sink`` is called with every flushed chunk (the five columns of its events, in
        order); with ``keep=False`` nothing else is kept: the trace comes out empty."""
        self.names = NameTable()
        self.meta = TraceMeta(fifo_locks=[])
        self._sink = sink
        self._keep = keep
        self._buf: list[int] = []
        self._columns = [np.zeros(0, dtype=dtype) for _, dtype in COLUMNS]
        self._rows = 0
        self._seen = 0
        self._since: tuple[int, int] | None = None
        self.budget: MemoryBudget | None = None
        self._shared = False  # a finished Trace holds the columns: never resize them in place
        self.clock = _Epoch()
        self.append: Callable[[tuple[int, int, int, int, int]], None] = self._buf.extend
        if kinds is not None:
            wanted = frozenset(int(k) for k in kinds)
            extend = self._buf.extend

            def append_some(row: tuple[int, int, int, int, int]) -> None:
                if row[2] in wanted:
                    extend(row)

            self.append = append_some

    def __len__(self) -> int:
        return self._rows + len(self._buf) // 5

    def flush(self, now_ns: int | None = None, min_rows: int = 0) -> None:
        """Move the staged events into the columns. ``now_ns``, the simulated time
        reached, lets the columns be sized for the whole run at once. With ``min_rows``,
        nothing happens until that many events are staged (a flush has a fixed cost of
        a few us: a sparse run need not pay it at every step)."""
        staged = len(self._buf) // 5
        if not staged or staged < min_rows:
            return
        self._seen += staged
        end = self.meta.duration_ns
        if self._since is None and now_ns and now_ns >= SETTLED_NS:
            self._since = (self._seen, now_ns)
        if self.budget is not None and now_ns and self._since is not None:
            self.budget.check(self._seen, now_ns, end, self._since)
        if not self._keep:
            if self._sink is None:
                self._buf.clear()
                return
            flat = self._take_staged()
            self._sink({n: flat[:, i].astype(d) for i, (n, d) in enumerate(COLUMNS)})
            return
        need = self._rows + staged
        capacity = len(self._columns[0])
        if need > capacity:
            grow = need + need // 256 + 1024  # realloc (mremap) grows in place: small steps
            if now_ns and end and now_ns < end and self._since and now_ns > self._since[1]:
                # the rate since the first flush (a host starts with a burst), to the end
                seen, then = self._since
                rate = (self._seen - seen) / (now_ns - then)
                projected = int(need + rate * (end - now_ns) * 1.002) + 1024
                # at most 1/8 ahead: an early rate (a host settling) must not size the end
                grow = max(grow, min(projected, need + need // 8 + 1024))
            if self._shared:
                self._columns = [np.resize(c, grow) for c in self._columns]
                self._shared = False
            else:
                for column in self._columns:
                    column.resize(grow, refcheck=False)
        flat = self._take_staged()
        for i, column in enumerate(self._columns):
            column[self._rows : need] = flat[:, i]
        del flat
        if self._sink is not None:
            self._sink(
                {
                    n: col[self._rows : need]
                    for (n, _), col in zip(COLUMNS, self._columns, strict=True)
                }
            )
        self._rows = need

    def _take_staged(self) -> np.ndarray:
        """Empty the staging into an (n, 5) int64 array. ``struct`` packs a few hundred
        ints in ~5 ns each (``array('q', list)`` takes ~12) and, like it, refuses a value
        that is not an int (a float time would otherwise be truncated silently); the
        list is emptied before packing, so that at most two copies of the rows exist."""
        rows = tuple(self._buf)
        self._buf.clear()
        try:
            packed = struct.Struct(f"{len(rows)}q").pack(*rows)
        except struct.error as error:
            raise TypeError(f"a trace row holds a value that is not an int64 ({error})") from None
        return np.frombuffer(packed, dtype=np.int64).reshape(-1, 5)

    def set_sink(self, sink: Callable[[dict[str, np.ndarray]], None] | None) -> None:
        """Hand every chunk flushed from now on to ``sink`` (see ``__init__``)."""
        self._sink = sink

    def finish(self) -> Trace:
        """Freeze what was recorded so far into a :class:`Trace` (recording may go on)."""
        self.flush()
        if not self._shared:
            for column in self._columns:
                column.resize(self._rows, refcheck=False)
            self._shared = True
        columns = {
            name: col[: self._rows] for (name, _), col in zip(COLUMNS, self._columns, strict=True)
        }
        return Trace(columns=columns, names=NameTable(self.names.as_dict()), meta=self.meta.copy())
