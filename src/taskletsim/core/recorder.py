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

import numpy as np

from .config import ConfigError
from .events import COLUMNS, EventKind
from .trace import NameTable, Trace, TraceMeta

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


class TraceRecorder:
    """Collects events during a run.

    ``append((time_ns, cpu, kind, subject, arg))`` adds one event: it is the
    ``extend`` of a flat list (the staging buffer), called directly from the
    model so that recording costs one C call (``list.extend`` takes a tuple in
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
        self.meta = TraceMeta()
        self._sink = sink
        self._keep = keep
        self._buf: list[int] = []
        self._columns = [np.zeros(0, dtype=dtype) for _, dtype in COLUMNS]
        self._rows = 0
        self._seen = 0
        self._since: tuple[int, int] | None = None
        self.budget: MemoryBudget | None = None
        self._shared = False  # a finished Trace holds the columns: never resize them in place
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
