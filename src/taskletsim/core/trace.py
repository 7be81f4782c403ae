"""The event trace: the only thing the model hands to the metrics.

An event is one row of five integers: ``time_ns`` (int64), ``cpu`` (int16),
``kind`` (uint8, an :class:`EventKind`), ``subject`` (int32: a lock, tasklet,
IRQ source or vCPU id, looked up in the name table) and ``arg`` (int64, whose
meaning depends on the kind, see :class:`EventKind`).

While a run is going, :class:`TraceRecorder` stages each event's five
integers in one flat list and moves them, a fraction of a simulated
millisecond at a time, into typed numpy columns: no Python object outlives
that. :meth:`TraceRecorder.finish` turns the columns into a :class:`Trace`,
which can be saved to and loaded from Parquet losslessly.
What the trace was recorded from travels with it as a :class:`TraceMeta`.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .config import ConfigError

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_VERSION = 2
"""2 added ``IRQ_COALESCE``; files of schema 1 still load."""


class EventKind(IntEnum):
    """Event kinds, after the tracepoints engineers already read.

    ``arg`` by kind:

    - ``LOCK_CONTEND``: 1 if the waiter spins with interrupts disabled, else 0
      (Linux ``lock:contention_begin``).
    - ``LOCK_ACQUIRE``: the time of this acquisition's ``LOCK_CONTEND``, or -1
      when it was not contended (``lock:contention_end`` + acquire).
    - ``LOCK_RELEASE``: 0.
    - ``IRQ_*``: subject the IRQ source, arg the interrupt's sequence number.
    - ``SOFTIRQ_*``: subject the softirq number (``meta.softirqs`` names
      them); ``SOFTIRQ_RAISE``'s arg is the target CPU.
    - ``RUNSTATE_CHANGE``: subject the vCPU, arg the new runstate (Xen
      ``TRC_SCHED_RUNSTATE_CHANGE``).
    - ``TASKLET_SCHEDULE``: subject the tasklet, arg the IRQ source whose
      interrupt led to it (-1: none). ``TASKLET_ENTRY``: the tasklet is claimed
      to run (``is_running``/RUN set); ``TASKLET_EXIT``: its function returned.
    - ``VIRQ_INJECT``: subject the IRQ source, arg the vCPU it is injected into.
    - ``VM_ENTRY``: the guest starts executing (after the entry cost); ``VM_EXIT``:
      it stops (before the exit cost), arg the VMX exit reason; subject the
      vCPU. Guest time is VM_ENTRY -> VM_EXIT; the rest of RUNNING is Xen's.
    - ``IRQ_COALESCE``: an arrival of an IRQ source merged into a request
      already pending, so it raises nothing of its own; arg the level
      (:data:`COALESCE_LAPIC`: the vector is pending in the local APIC's IRR;
      :data:`COALESCE_VIRTUAL`: the guest's vLAPIC vector or event channel is
      still pending; :data:`COALESCE_DEVICE`: held by a device waiting for
      the guest's EOI; :data:`COALESCE_POLLED`: taken by the guest's polling
      while the device's interrupt is masked, NAPI-style).
    """

    IRQ_RAISE = 0
    IRQ_ENTRY = 1
    IRQ_EXIT = 2
    SOFTIRQ_RAISE = 3
    SOFTIRQ_ENTRY = 4
    SOFTIRQ_EXIT = 5
    TASKLET_SCHEDULE = 6
    TASKLET_ENTRY = 7
    TASKLET_EXIT = 8
    LOCK_CONTEND = 9
    LOCK_ACQUIRE = 10
    LOCK_RELEASE = 11
    RUNSTATE_CHANGE = 12
    VIRQ_INJECT = 13
    VM_EXIT = 14
    VM_ENTRY = 15
    IRQ_COALESCE = 16


COALESCE_LAPIC = 0
"""An arrival merged into the same vector pending in the local APIC (one per IRR bit)."""
COALESCE_VIRTUAL = 1
"""A delivery merged into the guest's pending vLAPIC vector or event-channel port."""
COALESCE_DEVICE = 2
"""An arrival held (or merged) by a device that waits for the guest's EOI."""
COALESCE_POLLED = 3
"""An arrival the guest takes by polling while the device's interrupt is masked."""


COLUMNS: tuple[tuple[str, type[np.generic]], ...] = (
    ("time_ns", np.int64),
    ("cpu", np.int16),
    ("kind", np.uint8),
    ("subject", np.int32),
    ("arg", np.int64),
)


class NameTable:
    """Ids to names, per namespace (``"lock"``, ``"cpu"``, ``"irq"``, ...)."""

    def __init__(self, names: dict[str, list[str]] | None = None) -> None:
        self._names: dict[str, list[str]] = {k: list(v) for k, v in (names or {}).items()}

    def add(self, namespace: str, name: str) -> int:
        """Register ``name`` and return its id; a name already there is an error."""
        names = self._names.setdefault(namespace, [])
        if name in names:
            raise ValueError(f"duplicate {namespace} name {name!r}")
        names.append(name)
        return len(names) - 1

    def name(self, namespace: str, ident: int) -> str:
        """The name of id ``ident`` in ``namespace``."""
        return self._names[namespace][ident]

    def names(self, namespace: str) -> list[str]:
        """All names of ``namespace``, indexed by id."""
        return list(self._names.get(namespace, []))

    def ident(self, namespace: str, name: str) -> int:
        """The id of ``name`` in ``namespace``."""
        return self._names[namespace].index(name)

    def as_dict(self) -> dict[str, list[str]]:
        """A JSON-able copy."""
        return {k: list(v) for k, v in self._names.items()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NameTable) and self._names == other._names

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class IrqInfo:
    """An interrupt source of the run, indexed like the ``irq`` names."""

    name: str
    kind: str
    """``device`` (a passthrough MSI), ``timer`` (a vCPU's tick), ``ipi``, ``sched``."""
    cpu: int
    """The CPU it was bound to when created (it follows its vCPU afterwards)."""


@dataclass(frozen=True, slots=True)
class VcpuInfo:
    """A guest vCPU of the run: its domain and its workload (its guest class)."""

    domain: str
    workload: str


@dataclass
class TraceMeta:
    """What a trace was recorded from. The model fills it in as it builds the run;
    metrics read it to group and label what they measure.

    ``duration_ns`` is the end of the run (``None``: unknown, the metrics then
    end their window at the last event); ``warmup_ns`` the start of the
    measurement window reports use. ``topology`` has ``sockets``,
    ``cores_per_socket``, ``threads_per_core``, ``cpus``; ``cpu_socket[c]``
    is CPU ``c``'s socket; ``softirqs[nr]`` names softirq ``nr``; ``irq[i]``
    describes IRQ source ``i``; ``vcpus`` maps a guest vCPU's name to its
    domain and workload. ``extra`` holds anything else (JSON-able).
    """

    scenario: str | None = None
    design: str | None = None
    seed: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    duration_ns: int | None = None
    warmup_ns: int = 0
    lock_kind: str | None = None
    topology: dict[str, int] = field(default_factory=dict)
    cpu_socket: list[int] = field(default_factory=list)
    softirqs: list[str] = field(default_factory=list)
    irq: list[IrqInfo] = field(default_factory=list)
    vcpus: dict[str, VcpuInfo] = field(default_factory=dict)
    tasklet_locks: dict[str, str] = field(default_factory=dict)
    """Tasklet name -> the lock its design schedules and claims it under (Xen 4.4's
    ``tasklet_lock``), for the ``tasklet-lock`` invariant."""
    model: dict[str, Any] = field(default_factory=dict)
    """What the run modelled (:meth:`taskletsim.Scenario.model`): a host's full
    description, or the scenario's parameters."""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able copy."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TraceMeta:
        """The inverse of :meth:`as_dict`; unknown keys go to ``extra``."""
        known = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in data.items() if k in known}
        extra = {**kwargs.pop("extra", {}), **{k: v for k, v in data.items() if k not in known}}
        kwargs["irq"] = [IrqInfo(**i) for i in kwargs.get("irq", [])]
        kwargs["vcpus"] = {n: VcpuInfo(**v) for n, v in kwargs.get("vcpus", {}).items()}
        return cls(**kwargs, extra=extra)

    def copy(self) -> TraceMeta:
        """An independent copy."""
        return TraceMeta.from_dict(self.as_dict())


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


class TraceDigest:
    """A trace's digest computed chunk by chunk, as the events are recorded.

    One SHA-256 per column over its little-endian bytes; the digest is the
    SHA-256 of those five, the name table and the metadata (JSON, sorted keys)
    but for the scenario's name and parameters: ``meta.model``, what they
    built, stands for them, so that a host file written by ``taskletsim show``
    gives the digest of the built-in scenario it came from. A metrics-only
    run gets the digest its full trace would have had.
    """

    def __init__(self) -> None:
        self._columns = [hashlib.sha256() for _ in COLUMNS]

    def update(self, columns: Mapping[str, np.ndarray]) -> None:
        """Add the next events (the five columns of a chunk, in order)."""
        for h, (name, dtype) in zip(self._columns, COLUMNS, strict=True):
            little = np.dtype(dtype).newbyteorder("<")
            h.update(np.ascontiguousarray(columns[name], dtype=little).tobytes())

    def hexdigest(self, names: NameTable, meta: TraceMeta) -> str:
        h = hashlib.sha256()
        for column in self._columns:
            h.update(column.digest())
        h.update(json.dumps(names.as_dict(), sort_keys=True).encode())
        described = meta.as_dict()
        del described["scenario"], described["params"]  # ``model`` says what they built
        h.update(json.dumps(described, sort_keys=True, default=str).encode())
        return h.hexdigest()


@dataclass(frozen=True, eq=False)
class Trace:
    """A finished trace: typed numpy columns, a name table and run metadata.

    Rows are in the order the events happened (non-decreasing ``time_ns``;
    events at the same ns in the order the model emitted them).
    """

    columns: dict[str, np.ndarray]
    names: NameTable = field(default_factory=NameTable)
    meta: TraceMeta = field(default_factory=TraceMeta)
    _by_kind: dict[int, np.ndarray] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def time_ns(self) -> np.ndarray:
        return self.columns["time_ns"]

    @property
    def cpu(self) -> np.ndarray:
        return self.columns["cpu"]

    @property
    def kind(self) -> np.ndarray:
        return self.columns["kind"]

    @property
    def subject(self) -> np.ndarray:
        return self.columns["subject"]

    @property
    def arg(self) -> np.ndarray:
        return self.columns["arg"]

    def __len__(self) -> int:
        return len(self.columns["time_ns"])

    INDEX_CHUNK: ClassVar[int] = 1 << 20
    """Rows sorted at a time to build the index by kind (see :meth:`rows`)."""

    def rows(self, kind: EventKind) -> np.ndarray:
        """Row indices of the events of ``kind``, in trace order (computed once for all
        kinds, and kept).

        The index is built :attr:`INDEX_CHUNK` rows at a time: each chunk's ``kind``
        column is sorted stably (a radix sort: uint8 keys) and its rows of each kind
        appended to that kind's array. Sorting the whole column at once needs two
        int64 arrays of its length besides the index, and on a first use in a
        process mapping that fresh memory costs more than the sort (~3x here)."""
        cache = self._by_kind
        if not cache:
            column = self.kind
            nkinds = len(EventKind)
            counts = np.zeros(nkinds, dtype=np.int64)
            for lo in range(0, len(column), self.INDEX_CHUNK):
                part = np.bincount(column[lo : lo + self.INDEX_CHUNK], minlength=nkinds)
                counts += part[:nkinds]
            out = [np.empty(n, dtype=np.int64) for n in counts.tolist()]
            filled = [0] * nkinds
            # uint8 queries: an int64 query would convert the chunk to int64
            kinds = np.arange(nkinds + 1, dtype=np.uint8)
            for lo in range(0, len(column), self.INDEX_CHUNK):
                part = column[lo : lo + self.INDEX_CHUNK]
                order = np.argsort(part, kind="stable")
                bounds = np.searchsorted(part[order], kinds).tolist()
                order += lo
                for k in range(nkinds):
                    a, b = bounds[k], bounds[k + 1]
                    out[k][filled[k] : filled[k] + b - a] = order[a:b]
                    filled[k] += b - a
            for k in EventKind:
                cache[int(k)] = out[k]
        return cache.get(int(kind), np.zeros(0, dtype=np.int64))

    def of_kinds(self, *kinds: EventKind) -> np.ndarray:
        """Row indices of the events of the given kinds, in trace order."""
        if len(kinds) == 1:
            return self.rows(kinds[0])
        rows = np.concatenate([self.rows(k) for k in kinds])
        rows.sort(kind="stable")  # in place; merges the sorted runs
        return rows

    def to_pandas(self) -> pd.DataFrame:
        """One row per event, with ``kind`` as a categorical of kind names."""
        import pandas as pd

        frame = pd.DataFrame({name: self.columns[name] for name, _ in COLUMNS})
        frame["kind"] = pd.Categorical.from_codes(
            frame["kind"].astype(np.int64), categories=pd.Index([k.name for k in EventKind])
        )
        return frame

    def save(self, path: str | Path) -> None:
        """Write a Parquet file; the name table and metadata go in its schema metadata."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({name: self.columns[name] for name, _ in COLUMNS})
        extra = {
            b"taskletsim.schema": str(SCHEMA_VERSION).encode(),
            b"taskletsim.names": json.dumps(self.names.as_dict()).encode(),
            b"taskletsim.meta": json.dumps(self.meta.as_dict()).encode(),
        }
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
        pq.write_table(table, str(path))

    @classmethod
    def load(cls, path: str | Path) -> Trace:
        """Read a trace written by :meth:`save`.

        A file that is missing, not Parquet (or cut short), not written by
        taskletsim, of another schema version, or whose columns or metadata do
        not make a trace raises :class:`~taskletsim.core.config.ConfigError`
        naming the file and what is wrong with it.
        """
        import pyarrow.parquet as pq
        from pyarrow.types import is_integer

        def bad(what: str) -> ConfigError:
            return ConfigError("trace file", str(path), what)

        if not Path(path).is_file():
            raise bad("an existing file")
        try:
            table = pq.read_table(str(path))
        except Exception as error:  # pyarrow raises several kinds for a damaged file
            raise bad(f"a Parquet file, whole (reading it failed: {error})") from None
        meta = table.schema.metadata or {}
        if b"taskletsim.schema" not in meta:
            raise bad("a trace saved by taskletsim (this Parquet file has no taskletsim metadata)")
        try:
            version = int(meta[b"taskletsim.schema"])
        except ValueError:
            raise bad(f"a trace schema version (found {meta[b'taskletsim.schema']!r})") from None
        if version not in (1, SCHEMA_VERSION):
            newer = " (written by a newer taskletsim?)" if version > SCHEMA_VERSION else ""
            raise bad(f"trace schema 1 or {SCHEMA_VERSION}, not {version}{newer}")
        missing = [name for name, _ in COLUMNS if name not in table.column_names]
        if missing:
            raise bad(f"the columns {[n for n, _ in COLUMNS]} (missing {missing})")
        columns = {}
        for name, dtype in COLUMNS:
            column = table.column(name)
            if column.null_count or not is_integer(column.type):
                raise bad(f"integer column {name} without nulls (found {column.type})")
            values = column.to_numpy()
            cast = values.astype(dtype, copy=False)
            if not np.array_equal(cast, values):
                raise bad(f"column {name} within {np.dtype(dtype).name}")
            columns[name] = cast
        if len(columns["kind"]) and (
            columns["kind"].min() < 0 or columns["kind"].max() >= len(EventKind)
        ):
            raise bad(f"event kinds 0..{len(EventKind) - 1} in column kind")
        if np.any(np.diff(columns["time_ns"]) < 0):
            raise bad("events in time order (column time_ns goes back)")
        try:
            names = NameTable(json.loads(meta[b"taskletsim.names"]))
            info = TraceMeta.from_dict(json.loads(meta[b"taskletsim.meta"]))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            what = f"the trace's name table and metadata ({type(error).__name__}: {error})"
            raise bad(what) from None
        return cls(columns=columns, names=names, meta=info)

    def digest(self) -> str:
        """A SHA-256 of the events, the name table and the metadata: equal digests mean
        equal traces, bit for bit, in any process (see :class:`TraceDigest`)."""
        d = TraceDigest()
        d.update(self.columns)
        return d.hexdigest(self.names, self.meta)

    def equals(self, other: Trace) -> bool:
        """Bit-for-bit equality of events, names and metadata."""
        return (
            all(
                self.columns[n].dtype == other.columns[n].dtype
                and np.array_equal(self.columns[n], other.columns[n])
                for n, _ in COLUMNS
            )
            and self.names == other.names
            and self.meta == other.meta
        )
