"""The trace: columnar recording, pandas view, lossless Parquet round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import taskletsim as ts
from taskletsim.core.events import COLUMNS, EventKind
from taskletsim.core.recorder import TraceRecorder


@pytest.fixture(scope="module")
def result() -> ts.RunResult:
    return ts.run("lock-closed", seed=5, duration_ms=2, params={"lock": "ttas"})


def test_columns_have_the_schema_types(result: ts.RunResult) -> None:
    trace = result.trace
    for name, dtype in COLUMNS:
        assert trace.columns[name].dtype == np.dtype(dtype)
        assert len(trace.columns[name]) == len(trace)
    assert len(trace) > 1000
    assert np.all(np.diff(trace.time_ns) >= 0)
    assert trace.names.names("lock") == ["lock"]
    assert trace.meta.scenario == "lock-closed"
    assert trace.meta.cpu_socket == [0, 0, 0, 0, 1, 1, 1, 1]


def test_parquet_round_trip_is_lossless(result: ts.RunResult, tmp_path: Path) -> None:
    path = tmp_path / "run.parquet"
    result.trace.save(path)
    loaded = ts.Trace.load(path)
    assert loaded.equals(result.trace)
    assert ts.lock_stats(loaded) == ts.lock_stats(result.trace)


def test_equals_sees_a_one_event_difference(result: ts.RunResult) -> None:
    columns = {k: v.copy() for k, v in result.trace.columns.items()}
    columns["arg"][-1] += 1
    other = ts.Trace(columns=columns, names=result.trace.names, meta=result.trace.meta)
    assert not other.equals(result.trace)


@pytest.mark.parametrize("chunk", [1, 7, 1000, 1 << 20])
def test_rows_by_kind_whatever_the_index_chunk(
    result: ts.RunResult, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index by kind, built a chunk of rows at a time, holds every row of each kind in
    trace order, whatever the chunk (one row, a few, one chunk for the whole trace)."""
    monkeypatch.setattr(ts.Trace, "INDEX_CHUNK", chunk)
    trace = ts.Trace(columns=result.trace.columns, names=result.trace.names)
    kinds = trace.kind
    for k in EventKind:
        rows = trace.rows(k)
        assert rows.dtype == np.int64
        assert np.array_equal(rows, np.flatnonzero(kinds == k)), k.name
    assert sum(len(trace.rows(k)) for k in EventKind) == len(trace)


def test_to_pandas(result: ts.RunResult) -> None:
    frame = result.trace.to_pandas()
    assert list(frame.columns) == [name for name, _ in COLUMNS]
    assert len(frame) == len(result.trace)
    assert set(frame["kind"].unique()) == {"LOCK_CONTEND", "LOCK_ACQUIRE", "LOCK_RELEASE"}


def test_recording_can_be_limited_to_some_kinds() -> None:
    full = ts.run("lock-open", seed=2, duration_ms=2)
    some = ts.run("lock-open", seed=2, duration_ms=2, kinds=[EventKind.LOCK_CONTEND])
    assert np.all(some.trace.kind == EventKind.LOCK_CONTEND)
    assert len(some.trace) == int((full.trace.kind == EventKind.LOCK_CONTEND).sum())


def test_a_row_that_is_not_ints_fails_at_the_flush() -> None:
    """Rows are staged as Python objects and converted in bulk: a float time (a model bug)
    must not pass silently as a truncated int."""
    recorder = TraceRecorder()
    recorder.append((1, 0, int(EventKind.IRQ_RAISE), 0, 0))
    recorder.flush(10)
    recorder.append((2.5, 0, int(EventKind.IRQ_RAISE), 0, 0))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        recorder.flush(20)
    recorder.append((3, 0, int(EventKind.IRQ_RAISE), 0, 2**70))
    with pytest.raises(TypeError):
        recorder.flush(30)


def test_a_flush_with_min_rows_waits_until_that_many_are_staged() -> None:
    """The simulation flushes at each step only once ``FLUSH_ROWS`` rows are staged (a
    flush has a fixed cost); a flush without it, as ``finish`` does, takes what is there."""
    recorder = TraceRecorder()
    for t in range(3):
        recorder.append((t, 0, int(EventKind.IRQ_RAISE), 0, 0))
        recorder.flush(10 * t, min_rows=4)
    assert recorder._rows == 0 and len(recorder) == 3
    recorder.append((3, 0, int(EventKind.IRQ_RAISE), 0, 0))
    recorder.flush(40, min_rows=4)
    assert recorder._rows == 4 and len(recorder) == 4
    recorder.append((4, 0, int(EventKind.IRQ_RAISE), 0, 0))
    assert recorder.finish().time_ns.tolist() == [0, 1, 2, 3, 4]


def test_same_seed_same_trace_other_seed_differs() -> None:
    a = ts.run("lock-open", seed=3, duration_ms=3, params={"lock": "ttas"})
    b = ts.run("lock-open", seed=3, duration_ms=3, params={"lock": "ttas"})
    c = ts.run("lock-open", seed=4, duration_ms=3, params={"lock": "ttas"})
    assert a.trace.equals(b.trace)
    assert not a.trace.equals(c.trace)


def test_name_table_rejects_duplicates() -> None:
    names = ts.NameTable()
    assert names.add("lock", "a") == 0
    assert names.add("lock", "b") == 1
    with pytest.raises(ValueError, match="duplicate"):
        names.add("lock", "a")
    assert names.ident("lock", "b") == 1


def test_run_checks_the_invariants_unless_told_not_to() -> None:
    """A design that claims each tasklet twice breaks "entries and exits alternate"."""
    from taskletsim.designs.xen44_global import Xen44Global
    from taskletsim.hv.seam import DESIGNS

    class ClaimsTwice(Xen44Global):
        name = "claims-twice"

        def traced_claim(self, cpu, t):  # type: ignore[no-untyped-def]
            super().traced_claim(cpu, t)
            super().traced_claim(cpu, t)

    ts.register_design(ClaimsTwice)
    try:
        with pytest.raises(ts.InvariantError, match="TASKLET_ENTRY"):
            ts.run("small-2socket", design="claims-twice", seed=1, duration_ms=2)
        ts.run("small-2socket", design="claims-twice", seed=1, duration_ms=2, check=False)
    finally:
        DESIGNS.unregister("claims-twice")


def test_chrome_trace_export_nests_and_loads(result: ts.RunResult, tmp_path: Path) -> None:
    import json
    from collections import Counter

    from taskletsim.output.export import save_chrome_trace

    run = ts.run("small-2socket", seed=1, duration_ms=5)
    path = tmp_path / "t.json"
    save_chrome_trace(run.trace, path)
    events = json.loads(path.read_text())["traceEvents"]
    depth: Counter[tuple[int, int]] = Counter()
    for e in events:
        if e["ph"] == "B":
            depth[(e["pid"], e["tid"])] += 1
        elif e["ph"] == "E":
            depth[(e["pid"], e["tid"])] -= 1
            assert depth[(e["pid"], e["tid"])] >= 0
    assert any(e["name"].startswith("guest busy0v0") for e in events if e["ph"] == "X")
    assert any(e["name"] == "tasklet_lock" for e in events if e["ph"] == "X")


def test_cli_saves_traces(tmp_path: Path) -> None:
    from taskletsim.cli import main

    out = tmp_path / "run.parquet"
    chrome = tmp_path / "run.json"
    assert (
        main(
            [
                "run",
                "small-2socket",
                "--duration-ms",
                "2",
                "--design",
                "xen-4.4-global",
                "--design",
                "linux",
                "--save-trace",
                str(out),
                "--chrome-trace",
                str(chrome),
                "--json",
            ]
        )
        == 0
    )
    loaded = ts.Trace.load(tmp_path / "run-linux.parquet")
    assert loaded.meta.design == "linux"
    assert (tmp_path / "run-xen-4.4-global.json").exists()


def test_a_hosts_metadata_survives_pickling_and_its_dict_form() -> None:
    """Worker processes send traces back pickled and files store ``as_dict``: the slotted
    ``IrqInfo``/``VcpuInfo`` records of a host's metadata must come back equal."""
    import pickle

    meta = ts.run("small-2socket", seed=1, duration_ms=1, check=False).trace.meta
    assert meta.irq and meta.vcpus
    assert pickle.loads(pickle.dumps(meta)) == meta
    assert ts.TraceMeta.from_dict(meta.as_dict()) == meta


def test_each_event_kind_has_its_tracepoint() -> None:
    """``recorder.KIND_NAME(cpu, subject[, arg])`` records one row of that kind at the
    clock's time: the model's only way to emit (the locks inline theirs, same rows)."""
    from taskletsim.core.recorder import Tracepoints
    from taskletsim.core.sim import Simulation

    sim = Simulation(0)
    sim.env.now = 1234
    for kind in EventKind:
        method = getattr(sim.trace, kind.name.lower())
        nargs = method.__code__.co_argcount - 1  # cpu, subject and, for most, arg
        args = (3, 7, 11)[:nargs]
        method(*args)
        assert isinstance(getattr(Tracepoints, kind.name.lower()), type(method.__func__))
    trace = sim.trace.finish()
    assert trace.kind.tolist() == [int(k) for k in EventKind]
    assert set(trace.time_ns.tolist()) == {1234} and set(trace.cpu.tolist()) == {3}
    assert set(trace.subject.tolist()) == {7}
    args = dict(zip((EventKind(k) for k in trace.kind.tolist()), trace.arg.tolist(), strict=True))
    assert args[EventKind.LOCK_CONTEND] == 1  # irqs_off=11: true
    assert args[EventKind.TASKLET_ENTRY] == args[EventKind.TASKLET_EXIT] == -1
    assert args[EventKind.SOFTIRQ_ENTRY] == args[EventKind.VM_ENTRY] == 0
    assert args[EventKind.IRQ_RAISE] == args[EventKind.RUNSTATE_CHANGE] == 11
