"""Sweeps: the same rows on any executor, resumable from their output file."""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

import taskletsim
from taskletsim import ConfigError
from taskletsim.runner import sweep as sweep_module
from taskletsim.runner.stats import t95
from taskletsim.runner.sweep import dask_executor, load_runs, sweep

from .helpers import taskletsim_cli

SCENARIO = "small-2socket"
GRID = {"irq_rate_per_s": ["2000", "8000"]}
DESIGNS = ("xen-4.4-global", "rfc-percpu")
KW = {"duration_ms": 4.0, "warmup_ms": 1.0}


@pytest.fixture(scope="module")
def serial() -> taskletsim.SweepResult:
    return sweep(SCENARIO, GRID, DESIGNS, (1, 2), **KW)


def test_top_level_function_is_the_sweep() -> None:
    assert taskletsim.sweep is sweep


def test_rows_in_product_order_with_typed_values(serial: taskletsim.SweepResult) -> None:
    runs = serial.runs
    assert len(runs) == 2 * 2 * 2
    assert runs["irq_rate_per_s"].tolist() == [2000.0] * 4 + [8000.0] * 4
    assert runs["design"].tolist() == [*[d for d in DESIGNS for _ in (1, 2)]] * 2
    assert runs["seed"].tolist() == [1, 2] * 4
    assert runs["digest"].nunique() == 8
    assert runs["config"].nunique() == 4  # one per (point, design): the seed is not in it
    summary = serial.summary
    assert len(summary) == 4 and (summary["seeds"] == 2).all()
    first = runs[(runs.irq_rate_per_s == 2000.0) & (runs.design == DESIGNS[0])]
    metric = "latency.device.virq.p99_ns"
    assert summary.loc[0, metric] == pytest.approx(first[metric].mean())
    half = t95(1) * first[metric].std(ddof=1) / 2**0.5
    assert summary.loc[0, f"{metric}.ci95"] == pytest.approx(half)


def test_process_pool_gives_identical_rows(serial: taskletsim.SweepResult) -> None:
    with ProcessPoolExecutor(max_workers=2) as pool:
        pooled = sweep(SCENARIO, GRID, DESIGNS, (1, 2), executor=pool, **KW)
    pd.testing.assert_frame_equal(pooled.runs, serial.runs)
    pd.testing.assert_frame_equal(pooled.summary, serial.summary)


def test_dask_local_cluster_gives_identical_rows(serial: taskletsim.SweepResult) -> None:
    pytest.importorskip("distributed")
    with dask_executor("local", workers=2) as executor:
        on_dask = sweep(SCENARIO, GRID, DESIGNS, (1, 2), executor=executor, **KW)
    pd.testing.assert_frame_equal(on_dask.runs, serial.runs)


def test_metrics_only_gives_identical_rows(serial: taskletsim.SweepResult) -> None:
    lean = sweep(SCENARIO, GRID, DESIGNS, (1, 2), metrics_only=True, **KW)
    pd.testing.assert_frame_equal(lean.runs.drop(columns="spec"), serial.runs.drop(columns="spec"))
    for asked, full in zip(lean.runs["spec"], serial.runs["spec"], strict=True):
        a, b = json.loads(asked), json.loads(full)  # the runs asked for differ there only
        assert {k for k in a if a[k] != b[k]} == {"metrics_only"}


def test_resume_skips_the_rows_already_in_the_file(
    tmp_path: Path, serial: taskletsim.SweepResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "rows.parquet"
    half = sweep(SCENARIO, {"irq_rate_per_s": ["2000"]}, DESIGNS, (1, 2), output=out, **KW)
    assert half.reused == 0 and len(load_runs(out)) == 4  # type: ignore[arg-type]
    calls: list[int] = []
    real = sweep_module._one

    def counting(*args: object) -> object:
        calls.append(1)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(sweep_module, "_one", counting)
    whole = sweep(SCENARIO, GRID, DESIGNS, (1, 2), output=out, **KW)
    assert whole.reused == 4 and len(calls) == 4
    pd.testing.assert_frame_equal(whole.runs, serial.runs)
    pd.testing.assert_frame_equal(load_runs(out), serial.runs)  # type: ignore[arg-type]
    # a different fixed parameter is a different configuration: nothing is reused
    other = sweep(SCENARIO, {"irq_rate_per_s": ["2000"]}, DESIGNS[:1], (1,), output=out,
                  params={"tick_hz": 250}, **KW)  # fmt: skip
    assert other.reused == 0


def test_an_interrupted_sweep_keeps_its_rows_and_resumes(
    tmp_path: Path, serial: taskletsim.SweepResult
) -> None:
    out = tmp_path / "rows.parquet"

    def stop_after_three(done: int, total: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep(SCENARIO, GRID, DESIGNS, (1, 2), output=out, progress=stop_after_three, **KW)
    assert len(load_runs(out)) == 3  # type: ignore[arg-type]
    resumed = sweep(SCENARIO, GRID, DESIGNS, (1, 2), output=out, **KW)
    assert resumed.reused == 3
    pd.testing.assert_frame_equal(resumed.runs, serial.runs)


@pytest.mark.parametrize(
    ("grid", "field"),
    [
        ({"irq_rate_per_s": []}, "grid.irq_rate_per_s"),
        ({"irq_rate_per_s": "2000"}, "grid.irq_rate_per_s"),
        ({"irq_rate_per_s": ["-5"]}, "irq_rate_per_s"),
        ({"no_such": ["1"]}, "grid.no_such"),
    ],
)
def test_bad_grids_are_refused_before_anything_runs(grid: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        sweep(SCENARIO, grid, DESIGNS, (1,), **KW)  # type: ignore[arg-type]
    assert info.value.field == field


def test_a_file_that_is_not_a_sweep_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "rows.parquet"
    bad.write_text("not parquet")
    with pytest.raises(ConfigError) as info:
        sweep(SCENARIO, GRID, DESIGNS, (1,), output=bad, **KW)
    assert info.value.field == "output"


def test_cli_sweep_writes_rows_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "rows.parquet"
    args = ["sweep", "lock-open", "--grid", "rate_per_s=2e5,3e5", "--grid", "lock=ttas,mcs"]
    args += ["--seeds", "2", "--duration-ms", "5", "-o", str(out), "--jobs", "1"]
    first = taskletsim_cli(*args)
    assert first.returncode == 0, first.stderr
    assert "8 runs (0 reused" in first.stdout
    assert first.stderr == ""  # no progress bar when stderr is not a terminal
    rows = pd.read_parquet(out)
    assert len(rows) == 8 and set(rows["lock"]) == {"ttas", "mcs"}
    again = taskletsim_cli(*args, "--json")
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert (doc["runs"], doc["reused"], doc["grid"]) == (8, 8, ["rate_per_s", "lock"])
    assert [(r["rate_per_s"], r["lock"], r["seeds"]) for r in doc["summary"]] == [
        (2e5, "ttas", 2), (2e5, "mcs", 2), (3e5, "ttas", 2), (3e5, "mcs", 2)
    ]  # fmt: skip
    assert doc["summary"][0]["design"] is None
    assert len(pd.read_parquet(out)) == 8


@pytest.mark.parametrize(
    "args",
    [
        ["sweep", "lock-open"],  # no grid
        ["sweep", "lock-open", "--grid", "rate_per_s="],
        ["sweep", "lock-open", "--grid", "rate_per_s=1e5", "-o", "rows.csv"],
        ["sweep", "lock-open", "--grid", "rate_per_s=1e5", "--design", "linux"],
    ],
)
def test_cli_sweep_bad_input_is_one_line_and_exit_2(args: list[str]) -> None:
    out = taskletsim_cli(*args)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("taskletsim: error:")


def test_seeds_may_be_a_count_or_a_list_and_anything_else_is_a_config_error() -> None:
    """``seeds=N`` means the seeds 1..N, as ``--seeds N`` does; a non-iterable or an
    empty list is refused with a ConfigError naming ``seeds``, never a TypeError."""
    from taskletsim.core.config import ConfigError, check_seeds

    assert check_seeds(3) == (1, 2, 3)
    assert check_seeds("2") == (1, 2)
    assert check_seeds([5, 0]) == (5, 0)
    for bad in (0, -1, 1.5, None, [], ["x"], [-1], True):
        with pytest.raises(ConfigError, match="seed"):
            check_seeds(bad)
    counted = taskletsim.sweep("lock-open", {"rate_per_s": [1000]}, seeds=2, duration_ms=0.2)
    listed = taskletsim.sweep("lock-open", {"rate_per_s": [1000]}, seeds=[1, 2], duration_ms=0.2)
    assert counted.runs.equals(listed.runs)
