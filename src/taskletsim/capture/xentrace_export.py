"""Writing a trace as a xentrace capture, so that ``xenalyze`` and every other reader of
Xen's format reads a simulated host as it reads a real one.

:func:`export_xentrace` writes the kinds xentrace has, as Xen records them
(:mod:`.xenformat`): runstate changes (the old state in the event id, a vCPU
starting ``RUNSTATE_offline`` as ``vcpu_create`` leaves it), VM entries and
exits (the exit reason; the guest's RIP, which the model has not, as 0),
``TRC_HW_IRQ_HANDLED`` for each handled interrupt (at its end, with the 32-bit
TSC words of its start and end), and ``TRC_HVM_INJ_VIRQ`` for each vector
injected. Two differences from Xen's own files, both readable by any consumer:
``TRC_HVM_INJ_VIRQ`` carries a TSC (Xen writes none, a reader would give it the
previous TSC on its pCPU), and the IRQ number is the model's IRQ source id.
Each pCPU's records go in windows of at most ``window_records``, each after a
cpu-change record, ordered by their first TSC.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.config import ConfigError
from ..core.events import EventKind
from ..core.trace import Trace
from .xenformat import (
    CPU_CHANGE_HEADER,
    FIRST_EXPORT_VECTOR,
    IDLE_DOMID,
    LOCAL_TIMER_VECTOR,
    TRACE_EXTRA_SHIFT,
    TRC_HD_CYCLE_FLAG,
    TRC_HVM_INJ_VIRQ,
    TRC_HVM_VMENTRY,
    TRC_HVM_VMX_EXIT,
    TRC_HW_IRQ_HANDLED,
    TRC_SCHED_RUNSTATE_CHANGE,
)
from .xentrace import NS_PER_S, check_cpu_hz

WINDOW_RECORDS = 4096
"""Records per pCPU window (``xentrace`` writes what a per-CPU buffer held)."""
RUNSTATE_OFFLINE = 3
MAX_DATA = 3  # data words of the widest record written


@dataclass(frozen=True)
class ExportSummary:
    """What :func:`export_xentrace` wrote: records by kind, the vCPUs' Xen names
    (``{trace name: d{domid}v{vcpu}}``) and the vector of each (vCPU, source)."""

    records: dict[str, int]
    vcpus: dict[str, str]
    vectors: dict[tuple[str, str], int]
    bytes: int


def xen_vcpu_ids(trace: Trace) -> dict[str, tuple[int, int]]:
    """``(domid, vcpu)`` of every vCPU of the trace: a name ``d{domid}v{vcpu}`` keeps
    its numbers; otherwise each domain (``meta.vcpus``, in order) gets the next free
    domain id from 1 and its vCPUs their order in it."""
    names = trace.names.names("vcpu")
    pattern = re.compile(r"^d(\d+)v(\d+)$")
    ids: dict[str, tuple[int, int]] = {}
    for name in names:
        found = pattern.match(name)
        if found:
            ids[name] = (int(found[1]), int(found[2]))
    used = {d for d, _ in ids.values()}
    domains: dict[str, int] = {}
    count: dict[str, int] = {}
    next_id = 1
    for name in names:
        if name in ids:
            continue
        info = trace.meta.vcpus.get(name)
        domain = info.domain if info else name
        if domain not in domains:
            while next_id in used:
                next_id += 1
            domains[domain] = next_id
            used.add(next_id)
        ids[name] = (domains[domain], count.get(domain, 0))
        count[domain] = count.get(domain, 0) + 1
    for name, (d, v) in ids.items():
        if d > 0xFFFF or v > 0xFFFF:
            raise ConfigError("vcpu", name, "a domain id and vCPU number below 65536")
    return ids


def tsc_of(ns: np.ndarray, cpu_hz: int, base: int) -> np.ndarray:
    """ns as TSC ticks from ``base``, rounded up, so that reading them back (rounded down)
    gives the same ns at 1 GHz and above."""
    q, r = np.divmod(ns.astype(np.int64), NS_PER_S)
    tsc: np.ndarray = base + q * cpu_hz + (r * cpu_hz + NS_PER_S - 1) // NS_PER_S
    return tsc


def export_xentrace(
    trace: Trace,
    path: str | os.PathLike[str],
    cpu_hz: float | int | str,
    *,
    vector_map: str | os.PathLike[str] | None = None,
    window_records: int = WINDOW_RECORDS,
) -> ExportSummary:
    """Write ``trace`` as a xentrace capture at ``path`` with a TSC of ``cpu_hz``.

    ``vector_map``: where to write the vectors given to the injected sources, in
    the form :func:`~taskletsim.capture.import_xentrace` reads back, so that an
    import names them as the trace did.
    """
    hz = check_cpu_hz(cpu_hz)
    if window_records < 1:
        raise ConfigError("window_records", window_records, "a positive number of records")
    ids = xen_vcpu_ids(trace)
    names = trace.names.names("vcpu")
    key = np.asarray([(d << 16) | v for d, v in (ids[n] for n in names)], dtype=np.int64)
    base = hz  # one second of TSC before the run: a reader's origin is the first record
    parts: list[tuple[np.ndarray, ...]] = []  # (row, cpu, event, tsc, ndata, data...)
    counts: dict[str, int] = {}
    time, cpu, subject, arg = trace.time_ns, trace.cpu, trace.subject, trace.arg

    def add(what: str, rows: np.ndarray, event: np.ndarray, data: list[np.ndarray]) -> None:
        n = len(rows)
        counts[what] = n
        if not n:
            return
        block = np.zeros((n, MAX_DATA), dtype=np.int64)
        for k, column in enumerate(data):
            block[:, k] = column
        parts.append(
            (
                rows,
                cpu[rows].astype(np.int64),
                np.broadcast_to(event, (n,)).astype(np.int64),
                np.full(n, len(data), dtype=np.int64),
                block,
            )
        )

    # runstates: the old state is the vCPU's previous one (offline before the first)
    rows = trace.rows(EventKind.RUNSTATE_CHANGE)
    v = subject[rows].astype(np.int64)
    order = np.argsort(v, kind="stable")
    vs, new = v[order], arg[rows][order].astype(np.int64)
    old = np.r_[RUNSTATE_OFFLINE, new[:-1]]
    old[np.r_[True, vs[1:] != vs[:-1]]] = RUNSTATE_OFFLINE
    olds = np.empty_like(old)
    olds[order] = old
    domid = key[v] >> 16
    guest = domid != IDLE_DOMID
    event = TRC_SCHED_RUNSTATE_CHANGE | (olds & 3) << 8 | (arg[rows].astype(np.int64) & 3) << 4
    add("runstate", rows[guest], event[guest], [key[v][guest]])

    rows = trace.rows(EventKind.VM_ENTRY)
    add("vmentry", rows, np.asarray(TRC_HVM_VMENTRY), [])
    rows = trace.rows(EventKind.VM_EXIT)
    add("vmexit", rows, np.asarray(TRC_HVM_VMX_EXIT), [arg[rows] & 0xFFFFFFFF, 0 * rows])

    # handled interrupts: each exit paired with its pCPU's entry of the same source
    rows = trace.of_kinds(EventKind.IRQ_ENTRY, EventKind.IRQ_EXIT)
    pair_key = cpu[rows].astype(np.int64) * (1 << 32) + subject[rows]
    order = np.argsort(pair_key, kind="stable")
    r, k = rows[order], pair_key[order]
    is_entry = trace.kind[r] == EventKind.IRQ_ENTRY
    paired = np.flatnonzero(is_entry[:-1] & ~is_entry[1:] & (k[1:] == k[:-1]))
    t_in = tsc_of(time[r[paired]], hz, base)
    t_out = tsc_of(time[r[paired + 1]], hz, base)
    exits = r[paired + 1]
    add(
        "irq_handled",
        exits,
        np.asarray(TRC_HW_IRQ_HANDLED),
        [subject[exits].astype(np.int64), t_in & 0xFFFFFFFF, t_out & 0xFFFFFFFF],
    )

    vectors = _vectors(trace, names, ids)
    rows = trace.rows(EventKind.VIRQ_INJECT)
    pairs = arg[rows].astype(np.int64) * (1 << 32) + subject[rows]
    lookup = np.asarray(sorted(vectors.values), dtype=np.int64)
    vec = np.asarray([vectors.values[p] for p in sorted(vectors.values)], dtype=np.int64)
    vector = vec[np.searchsorted(lookup, pairs)] if len(rows) else pairs
    add("inj_virq", rows, np.asarray(TRC_HVM_INJ_VIRQ), [vector, 0 * rows])

    written = _write(path, parts, time, hz, base, window_records)
    if vector_map is not None:
        _write_vector_map(vector_map, vectors.lines)
    return ExportSummary(
        records=counts,
        vcpus={n: f"d{d}v{v}" for n, (d, v) in ids.items()},
        vectors=vectors.named,
        bytes=written,
    )


@dataclass
class _Vectors:
    values: dict[int, int]  # vcpu id << 32 | source id -> vector
    named: dict[tuple[str, str], int]
    lines: list[str]


def _vectors(trace: Trace, names: list[str], ids: dict[str, tuple[int, int]]) -> _Vectors:
    """A vector for each source injected into each vCPU: the tick ``LOCAL_TIMER_VECTOR``,
    the others from ``FIRST_EXPORT_VECTOR`` in order of first injection."""
    rows = trace.rows(EventKind.VIRQ_INJECT)
    pairs = trace.arg[rows].astype(np.int64) * (1 << 32) + trace.subject[rows]
    _, first = np.unique(pairs, return_index=True)
    sources = trace.names.names("irq")
    info = trace.meta.irq
    values: dict[int, int] = {}
    named: dict[tuple[str, str], int] = {}
    lines: list[str] = []
    taken: dict[int, int] = {}
    for p in pairs[np.sort(first)].tolist():
        vcpu, sid = p >> 32, p & 0xFFFFFFFF
        name = sources[sid]
        kind = info[sid].kind if sid < len(info) else "other"
        if kind == "timer" and name.endswith(":timer"):
            vector = LOCAL_TIMER_VECTOR
        else:
            vector = FIRST_EXPORT_VECTOR + taken.get(vcpu, 0)
            if vector >= LOCAL_TIMER_VECTOR:
                vector += 1
            taken[vcpu] = taken.get(vcpu, 0) + 1
            if vector > 0xFF:
                raise ConfigError(
                    "vCPU", names[vcpu], "at most 207 interrupt sources injected into one vCPU"
                )
        values[p] = vector
        named[(names[vcpu], name)] = vector
        d, v = ids[names[vcpu]]
        lines.append(f"d{d}v{v} {vector:#04x} {name} {kind}")
    return _Vectors(values, named, lines)


def _write_vector_map(path: str | os.PathLike[str], lines: list[str]) -> None:
    header = "# vCPU vector source kind: the vectors an exported run gave its sources\n"
    Path(path).write_text(header + "".join(line + "\n" for line in lines))


def _write(
    path: str | os.PathLike[str],
    parts: list[tuple[np.ndarray, ...]],
    time: np.ndarray,
    hz: int,
    base: int,
    window_records: int,
) -> int:
    """The records in pCPU windows, each after its cpu-change record; bytes written."""
    if parts:
        rows, cpu, event, ndata, data = (np.concatenate(c) for c in zip(*parts, strict=True))
    else:
        rows = cpu = event = ndata = np.zeros(0, dtype=np.int64)
        data = np.zeros((0, MAX_DATA), dtype=np.int64)
    order = np.lexsort((rows, cpu))  # each pCPU's records in trace order
    rows, cpu, event, ndata, data = rows[order], cpu[order], event[order], ndata[order], data[order]
    tsc = tsc_of(time[rows], hz, base)
    n = len(rows)
    words = np.zeros((n, 3 + MAX_DATA), dtype=np.uint32)
    words[:, 0] = event | (ndata << TRACE_EXTRA_SHIFT) | TRC_HD_CYCLE_FLAG
    words[:, 1] = tsc & 0xFFFFFFFF
    words[:, 2] = tsc >> 32
    words[:, 3:] = data & 0xFFFFFFFF
    length = 3 + ndata
    # windows: each pCPU's records cut every window_records, ordered by first TSC
    first_of_cpu = np.r_[True, cpu[1:] != cpu[:-1]] if n else np.zeros(0, dtype=bool)
    start_of_cpu = np.maximum.accumulate(np.where(first_of_cpu, np.arange(n), 0)) if n else rows
    window = np.cumsum(first_of_cpu | ((np.arange(n) - start_of_cpu) % window_records == 0)) - 1
    starts = np.flatnonzero(np.r_[True, window[1:] != window[:-1]]) if n else rows
    ends = np.r_[starts[1:], n]
    sequence = np.lexsort((cpu[starts], tsc[starts]))
    out: list[np.ndarray] = []
    for w in sequence.tolist():
        lo, hi = int(starts[w]), int(ends[w])
        mask = np.arange(3 + MAX_DATA) < length[lo:hi, None]
        body = words[lo:hi][mask]
        out.append(np.asarray([CPU_CHANGE_HEADER, cpu[lo], 4 * len(body)], dtype=np.uint32))
        out.append(body)
    blob = np.concatenate(out).astype("<u4") if out else np.zeros(0, dtype="<u4")
    Path(path).write_bytes(blob.tobytes())
    return int(blob.nbytes)
