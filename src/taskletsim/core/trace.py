"""The event trace: the only thing the model hands to the metrics.

A :class:`Trace` holds the events' five typed columns
(:mod:`taskletsim.core.events`), a :class:`NameTable` from ids to names, and
what the trace was recorded from (:class:`TraceMeta`); it is saved to and
loaded from Parquet losslessly, and its :meth:`~Trace.digest` is equal exactly
when two traces are. :class:`~taskletsim.core.recorder.TraceRecorder` makes
one from a run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .config import ConfigError
from .events import COLUMNS, EventKind

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_VERSION = 2
"""2 added ``IRQ_COALESCE``; files of schema 1 still load."""


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
    fifo_locks: list[str] | None = None
    """The locks whose kind grants in arrival order (``SpinLock.fifo_grants``), for the
    ``lock-fifo`` invariant; ``None`` in a trace saved before 0.2.0, whose ``ticket``
    and ``mcs`` locks are the FIFO ones. Not part of the digest: a lock's kind, which
    is, decides it."""
    model: dict[str, Any] = field(default_factory=dict)
    """What the run modelled (:meth:`taskletsim.Scenario.model`): a host's full
    description, or the scenario's parameters."""
    source: dict[str, Any] | None = None
    """``None`` for a simulated trace (every event kind); for one imported from a real
    machine, its :class:`~taskletsim.core.source.TraceSource` as a dict: the tool,
    the kinds it can record, the records read and lost. Left out of the digest
    when ``None``."""
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


class TraceDigest:
    """A trace's digest computed chunk by chunk, as the events are recorded.

    One SHA-256 per column over its little-endian bytes; the digest is the
    SHA-256 of those five, the name table and the metadata (JSON, sorted keys)
    but for the scenario's name and parameters (``meta.model``, what they
    built, stands for them), ``fifo_locks`` (the lock kinds say it) and a
    simulated trace's ``source`` (``None``), so
    that a host file written by ``taskletsim show`` gives the digest of the
    built-in scenario it came from. A metrics-only
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
        del described["fifo_locks"]  # the lock kinds say it
        if described["source"] is None:
            del described["source"]  # a simulated trace, as before imports existed
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
