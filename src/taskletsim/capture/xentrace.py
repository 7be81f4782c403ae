"""Reading a xentrace capture into a :class:`~taskletsim.core.trace.Trace`.

:func:`import_xentrace` reads the binary file ``xentrace`` writes (see
:mod:`.xenformat`) in chunks: it splits each chunk into records, checks each
pCPU window against its cpu-change record, gives a record without a TSC the
previous TSC on its pCPU (as ``xenalyze`` does), merges the pCPUs' streams on
TSC, and maps what the model's trace has a kind for:

=============================== =========================================
xentrace record                 trace events
=============================== =========================================
``TRC_SCHED_RUNSTATE_CHANGE``   ``RUNSTATE_CHANGE`` (vCPU ``d{dom}v{vcpu}``;
                                the idle domain left out)
``TRC_HVM_VMENTRY`` / ``_EXIT`` ``VM_ENTRY`` / ``VM_EXIT`` (the vCPU last
                                switched in on that pCPU; the exit reason)
``TRC_HW_IRQ_HANDLED``          ``IRQ_ENTRY`` and ``IRQ_EXIT`` (Xen's IRQ)
``TRC_HVM_INJ_VIRQ``            ``VIRQ_INJECT`` (the vector on that vCPU)
``TRC_LOST_RECORDS``            an excluded window on that pCPU
=============================== =========================================

Every other record is counted by event id and skipped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.config import ConfigError
from ..core.events import COLUMNS, EventKind
from ..core.source import TraceSource
from ..core.trace import IrqInfo, NameTable, Trace, TraceMeta, VcpuInfo
from .records import Records, record_starts
from .xenformat import (
    CPU_CHANGE_HEADER,
    EVENT_MASK,
    IDLE_DOMID,
    RUNSTATE_EVENT_MASK,
    TRC_64_FLAG,
    TRC_HVM_INJ_VIRQ,
    TRC_HVM_NESTEDFLAG,
    TRC_HVM_SVM_EXIT,
    TRC_HVM_VMENTRY,
    TRC_HVM_VMX_EXIT,
    TRC_HW_IRQ_HANDLED,
    TRC_LOST_RECORDS,
    TRC_SCHED_RUNSTATE_CHANGE,
    TRC_TRACE_CPU_CHANGE,
    TRC_TRACE_WRAP_BUFFER,
)

XENTRACE_KINDS = (
    EventKind.RUNSTATE_CHANGE,
    EventKind.VM_ENTRY,
    EventKind.VM_EXIT,
    EventKind.IRQ_ENTRY,
    EventKind.IRQ_EXIT,
    EventKind.VIRQ_INJECT,
)
"""What a xentrace capture can hold."""
XENTRACE_CAVEATS = (
    "Xen traces no softirq, tasklet or lock event (xenlockprof gives lock totals only)",
    "no real trace has IRQ_RAISE: interrupt latency starts at the handler's entry",
    "TRC_HW_IRQ_HANDLED is one record at the handler's end: entry and exit times are "
    "rebuilt from its 32-bit TSC words",
    "TRC_HVM_INJ_VIRQ has no TSC in Xen's own traces: it takes the previous TSC on its pCPU",
)
CHUNK_BYTES = 16 << 20
"""Bytes read at a time: memory does not grow with the file beyond the events kept."""
MAX_CPUS = 4096
NO_TSC = -1
NS_PER_S = 1_000_000_000
MIN_CPU_HZ, MAX_CPU_HZ = 100_000_000, 9_000_000_000


def check_cpu_hz(cpu_hz: object) -> int:
    """The TSC rate in Hz as an int, or a :class:`ConfigError`."""
    allowed = "the TSC rate in Hz, between 1e8 and 9e9 (e.g. 2.4e9)"
    if isinstance(cpu_hz, bool) or not isinstance(cpu_hz, int | float | str):
        raise ConfigError("cpu_hz", cpu_hz, allowed)
    try:
        hz = float(cpu_hz)
    except ValueError:
        raise ConfigError("cpu_hz", cpu_hz, allowed) from None
    if not MIN_CPU_HZ <= hz <= MAX_CPU_HZ:
        raise ConfigError("cpu_hz", cpu_hz, allowed)
    return round(hz)


def tsc_to_ns(delta: np.ndarray, cpu_hz: int) -> np.ndarray:
    """TSC ticks since the origin as ns, rounded down, exactly (no float, no overflow
    below 9 GHz)."""
    q, r = np.divmod(delta.astype(np.int64), cpu_hz)
    ns: np.ndarray = q * NS_PER_S + (r * NS_PER_S) // cpu_hz
    return ns


@dataclass
class VectorMap:
    """Names for the vectors injected into vCPUs (``--vector-map``).

    One line per entry: ``VCPU VECTOR NAME [KIND]``; ``VCPU`` a vCPU's name
    (``d1v0``) or ``*`` for every vCPU, ``VECTOR`` decimal or ``0x`` hex,
    ``KIND`` one of ``device``, ``timer``, ``ipi``, ``sched``, ``other`` (default
    ``device``); ``#`` starts a comment. A ``*`` entry's source is named
    ``{vcpu}:{NAME}`` (one per vCPU); a vCPU's own entry keeps ``NAME``, so a
    source injected into several vCPUs stays one source. A vector without an
    entry is named ``{vcpu}:vector0x..``, of kind ``other``.
    """

    own: dict[tuple[str, int], tuple[str, str]] = field(default_factory=dict)
    every: dict[int, tuple[str, str]] = field(default_factory=dict)

    KINDS = ("device", "timer", "ipi", "sched", "other")

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> VectorMap:
        """Parse a vector map file; a bad line is a :class:`ConfigError` naming it."""
        result = cls()
        try:
            text = Path(path).read_text()
        except OSError as error:
            raise ConfigError("vector map", str(path), f"a readable file ({error})") from None
        for number, line in enumerate(text.splitlines(), 1):
            fields = line.split("#", 1)[0].split()
            if not fields:
                continue
            where = f"{path}:{number}"
            if len(fields) not in (3, 4):
                raise ConfigError("vector map", where, "VCPU VECTOR NAME [KIND]")
            vcpu, vector_text, name = fields[:3]
            kind = fields[3] if len(fields) == 4 else "device"
            try:
                vector = int(vector_text, 0)
            except ValueError:
                vector = -1
            if not 0 <= vector < 256:
                raise ConfigError("vector map", where, f"a vector 0..255, not {vector_text!r}")
            if kind not in cls.KINDS:
                raise ConfigError("vector map", where, f"a kind in {cls.KINDS}, not {kind!r}")
            if vcpu == "*":
                result.every[vector] = (name, kind)
            else:
                result.own[(vcpu, vector)] = (name, kind)
        return result

    def source(self, vcpu: str, vector: int) -> tuple[str, str]:
        """The name and kind of ``vector`` on ``vcpu``."""
        if (vcpu, vector) in self.own:
            return self.own[(vcpu, vector)]
        if vector in self.every:
            name, kind = self.every[vector]
            return f"{vcpu}:{name}", kind
        return f"{vcpu}:vector{vector:#04x}", "other"


LOCKPROF_LINE = re.compile(
    r"^(?P<name>.*?)\s*:\s*lock:\s*(?P<lock_cnt>-?\d+)\(\s*(?P<time_hold>[\d.]+)s\),\s*"
    r"block:\s*(?P<block_cnt>-?\d+)\(\s*(?P<time_block>[\d.]+)s\)\s*$"
)


def read_lockprof(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``xenlockprof``'s output as the aggregate it is: per lock ``lock_cnt``,
    ``block_cnt``, ``time_hold_s`` and ``time_block_s`` (``tools/misc/xenlockprof.c``;
    Xen built with ``CONFIG_LOCK_PROFILE``), and the profiling time."""
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise ConfigError("lockprof", str(path), f"a readable file ({error})") from None
    locks: dict[str, dict[str, float | int]] = {}
    total = None
    for number, line in enumerate(text.splitlines(), 1):
        found = LOCKPROF_LINE.match(line)
        if found:
            locks[found["name"]] = {
                "lock_cnt": int(found["lock_cnt"]),
                "block_cnt": int(found["block_cnt"]),
                "time_hold_s": float(found["time_hold"]),
                "time_block_s": float(found["time_block"]),
            }
        elif line.startswith("total profiling time:"):
            total = float(line.split(":", 1)[1].strip().rstrip("s"))
        elif line.strip() and not line.startswith(("total ", "data incomplete")):
            raise ConfigError(
                "lockprof", f"{path}:{number}", "a line of xenlockprof's output ('NAME: lock:...')"
            )
    if not locks:
        raise ConfigError("lockprof", str(path), "xenlockprof's output, with at least one lock")
    return {"locks": locks, "profiling_time_s": total}


class _Kept:
    """The mapped records gathered over the chunks (columns as lists of arrays)."""

    def __init__(self) -> None:
        self.parts: dict[str, dict[str, list[np.ndarray]]] = {}

    def add(self, what: str, **columns: np.ndarray) -> None:
        part = self.parts.setdefault(what, {})
        for name, values in columns.items():
            part.setdefault(name, []).append(values)

    def get(self, what: str, name: str, dtype: type[np.generic] = np.int64) -> np.ndarray:
        """A kept column, whole, as ``dtype``."""
        values = self.parts.get(what, {}).get(name, [])
        if not values:
            return np.zeros(0, dtype=dtype)
        return np.concatenate(values).astype(dtype, copy=False)


class _Reader:
    """The state carried from chunk to chunk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.cpu = -1
        self.window_end = 0  # the word where the current window ends
        self.last_tsc: dict[int, int] = {}
        self.running: dict[int, int] = {}  # pCPU -> (domain << 16 | vcpu) last switched in
        self.kept = _Kept()
        self.counts: dict[str, int] = {"records": 0, "windows": 0, "mapped": 0}
        self.other_ids: dict[int, int] = {}
        self.warnings: list[str] = []
        self.lost: list[tuple[int, int, int, int]] = []  # cpu, first tsc, tsc, records
        self.tsc_min: int | None = None
        self.tsc_max: int | None = None
        self.backwards: int = 0
        self.cut_window: tuple[int, int, int] | None = None

    def bad(self, word: int, what: str) -> ConfigError:
        return ConfigError("xentrace file", f"{self.path} at byte {4 * word}", what)

    def count(self, name: str, n: int) -> None:
        if n:
            self.counts[name] = self.counts.get(name, 0) + int(n)

    def chunk(self, records: Records, end_word: int) -> None:
        """Take a chunk's records (ending at word ``end_word``)."""
        if not len(records):
            return
        self.counts["records"] += len(records)
        cc = np.flatnonzero(records.event == TRC_TRACE_CPU_CHANGE)
        self._windows(records, cc, end_word)
        cpu = np.full(len(records), self.cpu, dtype=np.int64)
        if len(cc):
            marks = np.full(len(records), -1, dtype=np.int64)
            marks[cc] = cc
            latest = np.maximum.accumulate(marks)
            cpus = records.data[cc, 0].astype(np.int64)
            fill = latest >= 0
            cpu[fill] = cpus[np.searchsorted(cc, latest[fill])]
            self.cpu = int(cpus[-1])
        keep = np.ones(len(records), dtype=bool)
        keep[cc] = False
        rows = np.flatnonzero(keep)
        self._per_cpu(records.take(rows), cpu[rows])

    def _windows(self, records: Records, cc: np.ndarray, end_word: int) -> None:
        """Check every window against its cpu-change record."""
        off = records.offset
        if self.cpu < 0 and (not len(cc) or cc[0] != 0):
            raise self.bad(
                int(off[0]),
                f"a xentrace capture, which starts with a cpu-change record "
                f"({CPU_CHANGE_HEADER:#010x})",
            )
        for i in cc.tolist():
            if records.extra[i] != 2 or records.has_tsc[i]:
                raise self.bad(int(off[i]), "a cpu-change record of two data words and no TSC")
        cpus = records.data[cc, 0].astype(np.int64)
        sizes = records.data[cc, 1].astype(np.int64)
        if len(cc):
            wrong = np.flatnonzero((cpus >= MAX_CPUS) | (sizes % 4 != 0))
            if len(wrong):
                i = int(cc[wrong[0]])
                raise self.bad(
                    int(off[i]),
                    f"a cpu-change record with a CPU below {MAX_CPUS} and a window size in "
                    f"whole words (found cpu {int(cpus[wrong[0]])}, {int(sizes[wrong[0]])} bytes)",
                )
            ends = off[cc] + 3 + sizes // 4
            expected = np.r_[self.window_end, ends[:-1]]
            if self.cpu < 0:
                expected[0] = off[cc[0]]
            mismatch = np.flatnonzero(off[cc] != expected)
            if len(mismatch):
                k = int(mismatch[0])
                raise self.bad(
                    int(expected[k]),
                    "a cpu-change record where the previous window ends "
                    f"(found one at byte {4 * int(off[cc[k]])}: a window's size does not "
                    "match its records)",
                )
            self.window_end = int(ends[-1])
            self.counts["windows"] += len(cc)
        if end_word > self.window_end:
            raise self.bad(self.window_end, "a cpu-change record where the window ends")

    def _per_cpu(self, records: Records, cpu: np.ndarray) -> None:
        """Carry TSCs and the running vCPU forward on each pCPU; keep the mapped records."""
        order = np.argsort(cpu, kind="stable")
        cpus, bounds = np.unique(cpu[order], return_index=True)
        bounds = np.r_[bounds, len(order)]
        for k, c in enumerate(cpus.tolist()):
            rows = order[bounds[k] : bounds[k + 1]]
            self._one_cpu(c, records.take(rows))

    def _one_cpu(self, c: int, r: Records) -> None:
        n = len(r)
        index = np.arange(n)
        own = np.where(r.has_tsc, r.tsc.astype(np.int64), NO_TSC)
        latest = np.maximum.accumulate(np.where(r.has_tsc, index, -1))
        before = self.last_tsc.get(c, NO_TSC)
        carried = np.where(latest >= 0, own[np.maximum(latest, 0)], before)
        monotone = np.maximum.accumulate(np.r_[before, carried])
        back = r.has_tsc & (own < monotone[:-1])
        monotone = monotone[1:]
        if back.any():
            first = int(np.flatnonzero(back)[0])
            if not self.backwards:
                self.warnings.append(
                    f"the TSC goes back on pCPU {c} at byte {4 * int(r.offset[first])}: "
                    "such records take the latest TSC before them"
                )
            self.backwards += int(back.sum())
        tsc = monotone
        timed = tsc != NO_TSC
        self.count("untimed", int((~timed).sum()))
        if timed.any():
            lo, hi = int(tsc[timed].min()), int(tsc[timed].max())
            self.tsc_min = lo if self.tsc_min is None else min(self.tsc_min, lo)
            self.tsc_max = hi if self.tsc_max is None else max(self.tsc_max, hi)
            self.last_tsc[c] = int(tsc[-1])
        event = r.event
        runstate = ((event & RUNSTATE_EVENT_MASK) == TRC_SCHED_RUNSTATE_CHANGE) & timed
        key = r.data[:, 0].astype(np.int64)
        switched = runstate & (((event >> 4) & 3) == 0)
        marks = np.where(switched, index, -1)
        last_in = np.maximum.accumulate(marks)
        running = np.where(last_in >= 0, key[np.maximum(last_in, 0)], self.running.get(c, -1))
        if c not in self.running:
            # before the first switch seen here: the vCPU whose first change on this
            # pCPU leaves RUNNING was running until then
            leaving = np.flatnonzero(runstate & (((event >> 8) & 3) == 0))
            if len(leaving) and not switched[: leaving[0]].any():
                running[: leaving[0] + 1] = key[leaving[0]]
        if switched.any():
            self.running[c] = int(key[np.flatnonzero(switched)[-1]])
        base = event & ~TRC_HVM_NESTEDFLAG
        entry = (base == TRC_HVM_VMENTRY) & timed
        exit_ = (
            np.isin(
                base,
                (TRC_HVM_VMX_EXIT, TRC_HVM_VMX_EXIT | TRC_64_FLAG),
            )
            | np.isin(base, (TRC_HVM_SVM_EXIT, TRC_HVM_SVM_EXIT | TRC_64_FLAG))
        ) & timed
        virq = (event == TRC_HVM_INJ_VIRQ) & timed
        handled = (event == TRC_HW_IRQ_HANDLED) & timed & (r.extra >= 3)
        lost = (event == TRC_LOST_RECORDS) & timed & (r.extra >= 4)
        wrap = event == TRC_TRACE_WRAP_BUFFER
        seq = r.offset
        cpu_col = np.full(n, c, dtype=np.int16)

        def add(what: str, mask: np.ndarray, **extra: np.ndarray) -> None:
            """Keep the masked records' fields: the TSC and file offset as int64, the
            data words as the 32 bits they are (what is kept grows with the file)."""
            if mask.any():
                self.kept.add(
                    what,
                    tsc=tsc[mask],
                    cpu=cpu_col[mask],
                    seq=seq[mask],
                    **{k: v[mask].astype(np.uint32 if v.dtype != bool else bool)
                       for k, v in extra.items()},
                )  # fmt: skip

        add("runstate", runstate, key=key, event=event & EVENT_MASK)
        add("vm", entry | exit_, running=running, entry=entry, reason=key)
        add("virq", virq, running=running, vector=key, fake=r.data[:, 1].astype(np.int64))
        add(
            "irq",
            handled,
            irq=key,
            tsc_in=r.data[:, 1].astype(np.int64),
            tsc_out=r.data[:, 2].astype(np.int64),
        )
        for i in np.flatnonzero(lost).tolist():
            first = int(r.data[i, 2]) | int(r.data[i, 3]) << 32
            self.lost.append((c, first, int(tsc[i]), int(r.data[i, 0])))
        mapped = runstate | entry | exit_ | virq | handled
        self.counts["mapped"] += int(mapped.sum())
        self.count("wrap", int(wrap.sum()))
        self.count("lost_records", int(r.data[lost, 0].sum()) if lost.any() else 0)
        other = ~(mapped | wrap | lost) & timed
        ids, counts = np.unique(event[other], return_counts=True)
        for i, k in zip(ids.tolist(), counts.tolist(), strict=True):
            self.other_ids[i] = self.other_ids.get(i, 0) + k


def _read_chunks(
    reader: _Reader, path: Path, chunk_bytes: int, progress: Callable[[int], None] | None
) -> None:
    """Feed the file to ``reader`` a chunk at a time; note a file cut short."""
    size = path.stat().st_size
    if size < 12:
        raise ConfigError(
            "xentrace file", str(path), f"a xentrace capture (the file has {size} bytes)"
        )
    carry = np.zeros(0, dtype="<u4")
    base = 0
    with path.open("rb") as f:
        while raw := f.read(chunk_bytes):
            if progress is not None:
                progress(len(raw))
            whole = len(raw) - len(raw) % 4  # not a whole word: the file's last bytes
            words = np.concatenate([carry, np.frombuffer(raw[:whole], dtype="<u4")])
            starts, consumed = record_starts(words)
            end = base + consumed
            reader.chunk(Records.read(words, starts, base), end)
            carry = words[consumed:]
            base = end
    left = 4 * len(carry) + (size % 4)
    if left:
        reader.warnings.append(
            f"the file ends inside a record at byte {4 * base} ({left} bytes of it): "
            "the capture was cut; that record is left out"
        )
        reader.count("cut_bytes", left)
    if base < reader.window_end:
        reader.warnings.append(
            f"pCPU {reader.cpu}'s last window ends {4 * (reader.window_end - base)} bytes "
            "before its declared size: the capture was cut; the records before are read"
        )


def import_xentrace(
    path: str | os.PathLike[str],
    cpu_hz: float | int | str,
    *,
    vector_map: str | os.PathLike[str] | None = None,
    lockprof: str | os.PathLike[str] | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    progress: Callable[[int], None] | None = None,
) -> Trace:
    """A xentrace capture as a trace, its time in ns from the file's first TSC.

    ``cpu_hz`` is the TSC rate (xenalyze's ``--cpu-hz``). ``vector_map`` names
    the vectors injected into vCPUs (:class:`VectorMap`), ``lockprof`` adds
    ``xenlockprof``'s totals to the trace's source details. ``progress`` is
    called with the bytes read after each chunk. A damaged file is a
    :class:`ConfigError` naming the byte; a file cut short, TSCs that go back,
    lost records and unknown event ids are counted in ``meta.source``.
    """
    hz = check_cpu_hz(cpu_hz)
    file = Path(path)
    if not file.is_file():
        raise ConfigError("xentrace file", str(path), "an existing file")
    vectors = VectorMap() if vector_map is None else VectorMap.read(vector_map)
    locks = None if lockprof is None else read_lockprof(lockprof)
    reader = _Reader(file)
    _read_chunks(reader, file, max(64, chunk_bytes - chunk_bytes % 4), progress)
    if reader.tsc_min is None or reader.tsc_max is None:
        raise ConfigError("xentrace file", str(path), "a capture with at least one timed record")
    return _assemble(reader, hz, vectors, locks)


def _assemble(reader: _Reader, hz: int, vectors: VectorMap, locks: dict[str, Any] | None) -> Trace:
    """The trace from the kept records: names, the merge on TSC, the metadata."""
    assert reader.tsc_min is not None and reader.tsc_max is not None
    tsc0 = reader.tsc_min
    kept = reader.kept

    def ns(tsc: np.ndarray) -> np.ndarray:
        return tsc_to_ns(tsc - tsc0, hz)

    names = NameTable()
    # runstates: merged order decides the vCPUs' ids
    rs_tsc, rs_cpu, rs_seq = (
        kept.get("runstate", "tsc"),
        kept.get("runstate", "cpu"),
        kept.get("runstate", "seq"),
    )
    rs_key, rs_event = kept.get("runstate", "key"), kept.get("runstate", "event")
    domain = rs_key >> 16
    guest = domain != IDLE_DOMID
    order = np.lexsort((rs_seq, rs_cpu, rs_tsc))
    order = order[guest[order]]
    keys_in_order = rs_key[order]
    _, first_at = np.unique(keys_in_order, return_index=True)
    first_rows = order[np.sort(first_at)]
    vcpu_id: dict[int, int] = {}
    vcpus: dict[str, VcpuInfo] = {}
    for row in first_rows.tolist():
        key = int(rs_key[row])
        name = f"d{key >> 16}v{key & 0xFFFF}"
        vcpu_id[key] = names.add("vcpu", name)
        vcpus[name] = VcpuInfo(domain=f"d{key >> 16}", workload=f"d{key >> 16}")
    lookup_keys = np.asarray(sorted(vcpu_id), dtype=np.int64)
    lookup_ids = np.asarray([vcpu_id[k] for k in sorted(vcpu_id)], dtype=np.int64)

    def vcpu_of(keys: np.ndarray) -> np.ndarray:
        """The vCPU id of each key, -1 when it is not a guest vCPU seen switching."""
        if not len(lookup_keys):
            return np.full(len(keys), -1, dtype=np.int64)
        j = np.clip(np.searchsorted(lookup_keys, keys), 0, len(lookup_keys) - 1)
        return np.where(lookup_keys[j] == keys, lookup_ids[j], -1)

    parts: list[dict[str, np.ndarray]] = []

    def part(
        t: np.ndarray,
        cpu: np.ndarray,
        sort_cpu: np.ndarray,
        seq: np.ndarray,
        kind: EventKind | np.ndarray,
        subject: np.ndarray,
        arg: np.ndarray,
    ) -> None:
        # each column in its trace dtype at once: the merge then moves half the bytes
        parts.append(
            {
                "time_ns": t.astype(np.int64, copy=False),
                "cpu": cpu.astype(np.int16),
                "kind": np.broadcast_to(np.asarray(kind, dtype=np.uint8), t.shape),
                "subject": subject.astype(np.int32),
                "arg": arg.astype(np.int64, copy=False),
                # then: pCPU (below 4096, or -1) and the record's word offset (below 2**44)
                "then": (sort_cpu.astype(np.int64) << 44) + seq + 1,
            }
        )

    g = np.flatnonzero(guest)
    vid = vcpu_of(rs_key[g])
    part(
        ns(rs_tsc[g]),
        rs_cpu[g],
        rs_cpu[g],
        rs_seq[g],
        EventKind.RUNSTATE_CHANGE,
        vid,
        (rs_event[g] >> 4) & 3,
    )
    old = (rs_event[first_rows] >> 8) & 3
    zeros = np.zeros(len(first_rows), dtype=np.int64)
    part(
        zeros,
        rs_cpu[first_rows],
        zeros - 1,
        zeros - 1,
        EventKind.RUNSTATE_CHANGE,
        vcpu_of(rs_key[first_rows]),
        old,
    )
    mismatched = _runstate_mismatches(vcpu_of(rs_key[order]), rs_event[order])
    reader.count("runstate_mismatch", mismatched)

    # VM entries and exits: the vCPU last switched in on the pCPU
    vm_vcpu = vcpu_of(kept.get("vm", "running"))
    ok = vm_vcpu >= 0
    reader.count("vm_without_vcpu", int((~ok).sum()))
    entry = kept.get("vm", "entry", np.bool_).astype(bool)
    t, c, s = kept.get("vm", "tsc"), kept.get("vm", "cpu"), kept.get("vm", "seq")
    kinds = np.where(entry, int(EventKind.VM_ENTRY), int(EventKind.VM_EXIT))
    reason = np.where(entry, 0, kept.get("vm", "reason"))
    part(ns(t[ok]), c[ok], c[ok], s[ok], kinds[ok], vm_vcpu[ok], reason[ok])

    # IRQs Xen handled: entry and exit rebuilt from the 32-bit TSC words
    irq = kept.get("irq", "irq")
    if len(irq):
        t, c, s = kept.get("irq", "tsc"), kept.get("irq", "cpu"), kept.get("irq", "seq")
        low = t & 0xFFFFFFFF
        out = t - ((low - kept.get("irq", "tsc_out")) & 0xFFFFFFFF)
        into = out - ((kept.get("irq", "tsc_out") - kept.get("irq", "tsc_in")) & 0xFFFFFFFF)
        into = np.maximum(into, tsc0)
        numbers = np.unique(irq)
        ids = np.asarray([names.add("irq", f"irq{n}") for n in numbers.tolist()], dtype=np.int64)
        subject = ids[np.searchsorted(numbers, irq)]
        by_entry = np.lexsort((s, c, into))
        seqno = np.empty(len(irq), dtype=np.int64)
        sorted_subject = subject[by_entry]
        order_subject = np.argsort(sorted_subject, kind="stable")
        per_irq = np.bincount(sorted_subject, minlength=int(ids.max()) + 1)
        starts = np.cumsum(per_irq) - per_irq
        rank = np.empty(len(irq), dtype=np.int64)
        rank[order_subject] = np.arange(len(irq)) - starts[sorted_subject[order_subject]]
        seqno[by_entry] = rank
        part(ns(into), c, c, s, EventKind.IRQ_ENTRY, subject, seqno)
        part(ns(out), c, c, s, EventKind.IRQ_EXIT, subject, seqno)
    irq_info = [IrqInfo(name=n, kind="irq", cpu=-1) for n in names.names("irq")]

    # vectors injected into vCPUs
    v_vcpu = vcpu_of(kept.get("virq", "running"))
    ok = v_vcpu >= 0
    reader.count("virq_without_vcpu", int((~ok).sum()))
    reader.count("virq_fake", int((kept.get("virq", "fake") != 0).sum()))
    vector = kept.get("virq", "vector")[ok]
    v_vcpu = v_vcpu[ok]
    t, c, s = kept.get("virq", "tsc")[ok], kept.get("virq", "cpu")[ok], kept.get("virq", "seq")[ok]
    vcpu_names = names.names("vcpu")
    pairs = v_vcpu * 256 + (vector & 0xFF)
    merged = np.lexsort((s, c, t))
    _, first = np.unique(pairs[merged], return_index=True)
    source_of: dict[int, int] = {}
    for p in pairs[merged][np.sort(first)].tolist():
        name, kind = vectors.source(vcpu_names[p // 256], p % 256)
        known = names.names("irq")
        if name in known:
            source_of[p] = known.index(name)
        else:
            source_of[p] = names.add("irq", name)
            irq_info.append(IrqInfo(name=name, kind=kind, cpu=-1))
    if len(pairs):
        keys = np.asarray(sorted(source_of), dtype=np.int64)
        values = np.asarray([source_of[k] for k in sorted(source_of)], dtype=np.int64)
        subject = values[np.searchsorted(keys, pairs)]
        part(ns(t), c, c, s, EventKind.VIRQ_INJECT, subject, v_vcpu)

    columns = _merge(parts)
    span = int(tsc_to_ns(np.asarray([reader.tsc_max - tsc0]), hz)[0])
    ncpus = (
        max([*reader.last_tsc, *([int(columns["cpu"].max())] if len(columns["cpu"]) else [])]) + 1
    )
    excluded = tuple(
        (
            cpu,
            int(tsc_to_ns(np.asarray([max(first, tsc0) - tsc0]), hz)[0]),
            int(tsc_to_ns(np.asarray([at - tsc0]), hz)[0]),
        )
        for cpu, first, at, _n in reader.lost
    )
    counts: dict[str, Any] = {**reader.counts, "tsc_backwards": reader.backwards}
    counts["other_ids"] = {f"{k:#010x}": v for k, v in sorted(reader.other_ids.items())}
    counts["skipped"] = sum(reader.other_ids.values())
    details: dict[str, Any] = {"cpu_hz": hz, "tsc_origin": tsc0, "span_ns": span}
    if locks is not None:
        details["lockprof"] = locks
    source = TraceSource(
        tool="xentrace",
        file=reader.path.name,
        kinds=tuple(k.name for k in XENTRACE_KINDS),
        caveats=XENTRACE_CAVEATS,
        counts=counts,
        warnings=tuple(reader.warnings),
        excluded=excluded,
        details=details,
    )
    meta = TraceMeta(
        duration_ns=span,
        topology={"cpus": ncpus},
        cpu_socket=[0] * ncpus,
        irq=irq_info,
        vcpus=vcpus,
        source=source.as_dict(),
    )
    return Trace(columns=columns, names=names, meta=meta)


def _runstate_mismatches(vcpus: np.ndarray, events: np.ndarray) -> int:
    """How many runstate changes (in merged order) do not start from the state the
    vCPU's previous one ended in (records lost, or pCPUs' TSCs not in step)."""
    keys = vcpus.astype(np.uint16) if len(vcpus) and vcpus.max() < 1 << 16 else vcpus
    order = np.argsort(keys, kind="stable")  # a radix sort on 16-bit keys
    k, e = keys[order], events[order]
    same = k[1:] == k[:-1]
    return int((same & (((e[1:] >> 8) & 3) != ((e[:-1] >> 4) & 3))).sum())


def _merge(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The events of every part merged on time, then pCPU, then file order (a k-way
    merge of the pCPUs' streams), as the trace's typed columns."""
    if not parts:
        return {name: np.zeros(0, dtype=dtype) for name, dtype in COLUMNS}
    then = np.concatenate([p["then"] for p in parts])
    time = np.concatenate([p["time_ns"] for p in parts])
    order = np.lexsort((then, time))
    del then
    merged = {"time_ns": time[order]}
    del time
    for name, dtype in COLUMNS[1:]:
        merged[name] = np.concatenate([p[name] for p in parts]).astype(dtype, copy=False)[order]
    return merged
