"""Trace files: save/load round trips (a property), and a clear error naming the file for
one that is missing, cut short, foreign, of another schema, or not a trace inside."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskletsim import ConfigError, run
from taskletsim.core.events import COLUMNS, EventKind
from taskletsim.core.trace import SCHEMA_VERSION, IrqInfo, NameTable, Trace, TraceMeta, VcpuInfo

from .helpers import XEN_DESIGNS, taskletsim_cli

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
ints = st.integers(-(2**31), 2**31 - 1)


@st.composite
def traces(draw: st.DrawFn) -> Trace:
    """Any well-formed trace: sorted times, kinds in range, any names and metadata."""
    n = draw(st.integers(0, 200))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    time_ns = np.sort(rng.integers(0, 2**40, n, dtype=np.int64))
    columns = {
        "time_ns": time_ns,
        "cpu": rng.integers(-1, 4096, n).astype(np.int16),
        "kind": rng.integers(0, len(EventKind), n).astype(np.int8),
        "subject": rng.integers(-(2**31), 2**31 - 1, n, dtype=np.int64).astype(np.int32),
        "arg": rng.integers(-(2**62), 2**62, n, dtype=np.int64),
    }
    columns = {name: columns[name].astype(dtype) for name, dtype in COLUMNS}
    names = NameTable(
        draw(st.dictionaries(text, st.lists(text, max_size=5, unique=True), max_size=4))
    )
    irqs = draw(st.lists(st.tuples(text, text, ints), max_size=3))
    vcpus = draw(st.dictionaries(text, st.tuples(text, text), max_size=3))
    meta = TraceMeta(
        scenario=draw(st.none() | text),
        design=draw(st.none() | text),
        seed=draw(st.none() | st.integers(0, 2**63 - 1)),
        params=draw(st.dictionaries(text, st.none() | ints | st.booleans() | text, max_size=4)),
        duration_ns=draw(st.none() | st.integers(0, 2**62)),
        warmup_ns=draw(st.integers(0, 2**40)),
        lock_kind=draw(st.none() | st.sampled_from(["ttas", "ticket", "mcs"])),
        cpu_socket=draw(st.lists(st.integers(0, 7), max_size=8)),
        softirqs=draw(st.lists(text, max_size=4)),
        irq=[IrqInfo(n, k, c) for n, k, c in irqs],
        vcpus={n: VcpuInfo(d, w) for n, (d, w) in vcpus.items()},
        tasklet_locks=draw(st.dictionaries(text, text, max_size=2)),
        model=draw(st.dictionaries(text, ints | st.floats(allow_nan=False) | text, max_size=4)),
        extra=draw(st.dictionaries(text, ints | text, max_size=2)),
    )
    return Trace(columns=columns, names=names, meta=meta)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(trace=traces())
def test_save_load_round_trips_bit_for_bit(trace: Trace, tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    trace.save(path)
    back = Trace.load(path)
    assert back.equals(trace)
    assert back.digest() == trace.digest()
    assert all(back.columns[n].dtype == np.dtype(d) for n, d in COLUMNS)


@pytest.mark.parametrize("design", XEN_DESIGNS)
def test_a_run_round_trips_with_its_digest(design: str, tmp_path: Path) -> None:
    result = run("small-2socket", design=design, duration_ms=2)
    result.trace.save(tmp_path / "t.parquet")
    back = Trace.load(tmp_path / "t.parquet")
    assert back.equals(result.trace) and back.digest() == result.digest


# -- bad files -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("trace") / "good.parquet"
    run("small-2socket", duration_ms=2).trace.save(path)
    return path


def _fails(path: Path, *words: str) -> str:
    with pytest.raises(ConfigError) as caught:
        Trace.load(path)
    message = str(caught.value)
    assert caught.value.field == "trace file" and str(path) in message
    for word in words:
        assert word in message, message
    return message


@pytest.mark.parametrize("keep", [0, 4, 100, 0.5, 0.99])
def test_a_file_cut_short_is_named(saved: Path, tmp_path: Path, keep: float) -> None:
    data = saved.read_bytes()
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(data[: int(keep * len(data)) if isinstance(keep, float) else keep])
    _fails(cut, "Parquet")


def test_a_missing_file_or_a_folder_is_named(tmp_path: Path) -> None:
    _fails(tmp_path / "nothing.parquet", "an existing file")
    _fails(tmp_path, "an existing file")


def test_a_text_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "notes.parquet"
    path.write_text("time_ns,cpu\n1,2\n")
    _fails(path, "Parquet")


def test_a_foreign_parquet_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "foreign.parquet"
    pq.write_table(pa.table({"time_ns": [1, 2], "cpu": [0, 1]}), path)
    _fails(path, "no taskletsim metadata")


def _rewrite(saved: Path, target: Path, **changes: bytes | None) -> Path:
    table = pq.read_table(saved)
    meta = dict(table.schema.metadata)
    for key, value in changes.items():
        name = f"taskletsim.{key}".encode()
        if value is None:
            meta.pop(name)
        else:
            meta[name] = value
    pq.write_table(table.replace_schema_metadata(meta), target)
    return target


def test_another_schema_version_is_named(saved: Path, tmp_path: Path) -> None:
    newer = _rewrite(saved, tmp_path / "newer.parquet", schema=str(SCHEMA_VERSION + 1).encode())
    _fails(newer, f"not {SCHEMA_VERSION + 1}", "newer taskletsim")
    _fails(_rewrite(saved, tmp_path / "zero.parquet", schema=b"0"), "not 0")
    _fails(_rewrite(saved, tmp_path / "word.parquet", schema=b"two"), "schema version")


def test_broken_metadata_is_named(saved: Path, tmp_path: Path) -> None:
    _fails(_rewrite(saved, tmp_path / "a.parquet", meta=b"{not json"), "metadata")
    _fails(_rewrite(saved, tmp_path / "b.parquet", names=None), "metadata")
    _fails(_rewrite(saved, tmp_path / "c.parquet", meta=json.dumps([1, 2]).encode()), "metadata")
    bad_irq = json.dumps({"irq": [{"nom": "x"}]}).encode()
    _fails(_rewrite(saved, tmp_path / "d.parquet", meta=bad_irq), "metadata")


def _with_columns(saved: Path, target: Path, **columns: pa.Array) -> Path:
    table = pq.read_table(saved)
    for name, values in columns.items():
        if values is None:
            table = table.drop_columns([name])
        else:
            table = table.set_column(table.column_names.index(name), name, values)
    pq.write_table(table, target)
    return target


def test_columns_that_do_not_make_a_trace_are_named(saved: Path, tmp_path: Path) -> None:
    n = pq.read_metadata(saved).num_rows
    _fails(_with_columns(saved, tmp_path / "a.parquet", arg=None), "missing ['arg']")
    kinds = pa.array(np.full(n, len(EventKind), dtype=np.int8))
    _fails(_with_columns(saved, tmp_path / "b.parquet", kind=kinds), "event kinds")
    times = pa.array(np.arange(n, 0, -1, dtype=np.int64))
    _fails(_with_columns(saved, tmp_path / "c.parquet", time_ns=times), "time order")
    floats = pa.array(np.zeros(n, dtype=np.float64))
    _fails(_with_columns(saved, tmp_path / "d.parquet", cpu=floats), "integer column cpu")
    wide = pa.array(np.full(n, 2**40, dtype=np.int64))
    _fails(_with_columns(saved, tmp_path / "e.parquet", cpu=wide), "column cpu within int16")
    nulls = pa.array([None] * n, type=pa.int64())
    _fails(_with_columns(saved, tmp_path / "f.parquet", subject=nulls), "without nulls")


def test_the_cli_names_a_bad_trace_in_one_line(saved: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(saved.read_bytes()[:-200])
    out = taskletsim_cli("plot", "timeline", str(cut), "-o", str(tmp_path / "x.png"))
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and str(cut) in out.stderr
