"""Stopping cleanly: ``max_wall_s`` truncates a run at the time reached, empty windows
measure as documented, Ctrl-C during ``compare`` stops its workers and prints no table."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace

import numpy as np
import pytest

from taskletsim import ConfigError, compare, measure, run, scenario_names
from taskletsim.core.trace import Trace
from taskletsim.output.documents import comparison_from_document, run_json
from taskletsim.output.formats import render_compare, run_markdown
from taskletsim.output.tables import format_run
from taskletsim.runner.pool import process_pool
from taskletsim.runner.summary import run_curves, run_summary

from .helpers import XEN_DESIGNS, taskletsim_cli

DESIGNS = XEN_DESIGNS


def _before(trace: Trace, end_ns: int) -> Trace:
    """The events of ``trace`` before ``end_ns``: what a run stopped there recorded."""
    keep = trace.time_ns < end_ns
    columns = {name: col[keep] for name, col in trace.columns.items()}
    return Trace(columns=columns, names=trace.names, meta=trace.meta)


@pytest.mark.parametrize("design", DESIGNS)
def test_max_wall_s_ends_at_the_time_reached_with_the_metrics_of_that_window(
    design: str,
) -> None:
    """A metrics-only run stopped by the wall clock measures ``[warmup, reached)`` exactly
    as the trace-based metrics measure the same events of an unbounded run."""
    kw = {"design": design, "duration_ms": 400, "warmup_ms": 1}
    stopped = run("small-2socket", metrics_only=True, max_wall_s=0.05, **kw)  # type: ignore[arg-type]
    assert stopped.truncated and stopped.requested_duration_ns == 400_000_000
    reached = stopped.duration_ns
    assert 1_000_000 < reached < 400_000_000
    assert stopped.trace.meta.duration_ns == reached
    full = run("small-2socket", duration_ms=reached / 1e6, design=design, warmup_ms=1)
    assert not full.truncated and full.requested_duration_ns is None
    by_trace = measure(_before(full.trace, reached), 1_000_000, reached)
    assert stopped.measured().same_as(by_trace)
    assert stopped.digest == full.digest  # the same events, the same meta: the same run


def test_a_truncated_trace_holds_every_event_before_the_time_reached() -> None:
    stopped = run("small-2socket", duration_ms=400, max_wall_s=0.05)
    full = run("small-2socket", duration_ms=stopped.duration_ns / 1e6)
    assert stopped.truncated and stopped.trace.equals(full.trace)
    assert int(stopped.trace.time_ns[-1]) < stopped.duration_ns


def test_a_run_that_finishes_in_time_is_not_truncated() -> None:
    bounded = run("small-2socket", duration_ms=2, max_wall_s=60)
    plain = run("small-2socket", duration_ms=2)
    assert not bounded.truncated and bounded.digest == plain.digest


@pytest.mark.parametrize("value", [0, -1, "soon", float("nan"), True])
def test_max_wall_s_must_be_a_positive_number(value: object) -> None:
    with pytest.raises(ConfigError, match="max_wall_s"):
        run("small-2socket", duration_ms=1, max_wall_s=value)  # type: ignore[arg-type]


def test_the_run_json_says_truncated_with_the_duration_asked_and_the_digest() -> None:
    out = taskletsim_cli(
        "run", "small-2socket", "--duration-ms", "400", "--max-wall-s", "0.05", "--json"
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)["runs"][0]
    assert doc["truncated"] is True
    assert doc["requested_duration_ns"] == 400_000_000 > doc["duration_ns"]
    assert len(doc["digest"]) == 64
    whole = json.loads(
        taskletsim_cli("run", "small-2socket", "--duration-ms", "1", "--json").stdout
    )
    assert whole["runs"][0]["truncated"] is False
    assert "requested_duration_ns" not in whole["runs"][0]
    table = taskletsim_cli(
        "run", "small-2socket", "--duration-ms", "400", "--max-wall-s", "0.05"
    ).stdout
    assert "TRUNCATED by max_wall_s" in table


def test_compare_names_its_truncated_runs_in_every_format() -> None:
    result = compare(
        "small-2socket",
        ["xen-4.4-global", "rfc-percpu"],
        [1, 2],
        duration_ms=400,
        max_wall_s=0.05,
    )
    assert set(result.truncated) == {"xen-4.4-global", "rfc-percpu"}
    assert all(set(s) == {1, 2} for s in result.truncated.values())
    assert all(0 < ns < 400_000_000 for s in result.truncated.values() for ns in s.values())
    assert "TRUNCATED" in render_compare(result, "table")
    assert "TRUNCATED" in render_compare(result, "markdown")
    doc = json.loads(render_compare(result, "json"))
    assert set(doc["truncated"]["rfc-percpu"]) == {"1", "2"}
    assert comparison_from_document(doc).truncated == result.truncated
    whole = compare("small-2socket", ["rfc-percpu"], [1], duration_ms=2)
    assert whole.truncated == {} and "TRUNCATED" not in render_compare(whole, "table")


def test_sweep_rows_say_truncated_and_a_resumed_sweep_runs_them_again(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from taskletsim import sweep

    out = tmp_path / "rows.parquet"
    kw = {"duration_ms": 400, "max_wall_s": 0.05, "output": out}
    first = sweep("small-2socket", {"tick_hz": [250]}, ["rfc-percpu"], [1], **kw)  # type: ignore[arg-type]
    assert first.runs["truncated"].tolist() == [True]
    assert first.runs["duration_ns"].iloc[0] < 400_000_000
    again = sweep("small-2socket", {"tick_hz": [250]}, ["rfc-percpu"], [1], **kw)  # type: ignore[arg-type]
    assert again.reused == 0
    whole = sweep("small-2socket", {"tick_hz": [250]}, ["rfc-percpu"], [1], duration_ms=2)
    assert whole.runs["truncated"].tolist() == [False]
    assert whole.runs["duration_ns"].tolist() == [2_000_000]


# -- empty windows -----------------------------------------------------------------------


@pytest.mark.parametrize("scenario", scenario_names())
def test_an_empty_window_measures_zero_and_never_raises(scenario: str) -> None:
    """A window with no time in it (a run stopped before its warm-up ended) gives 0 for
    every rate, share and percentile, in the library and in every report."""
    designs: list[str | None] = list(DESIGNS) if scenario != "lock-open" else [None]
    for design in designs:
        try:
            result = run(scenario, design=design, duration_ms=1)
        except ConfigError:  # a scenario that takes no design
            result = run(scenario, duration_ms=1)
        empty = replace(result, warmup_ns=result.duration_ns)
        m = empty.measured()
        assert m.start_ns == m.end_ns
        assert all(s.acquisitions == 0 and s.acquisitions_per_s == 0 for s in m.locks.values())
        summary = run_summary(empty)
        assert all(v == 0.0 for k, v in summary.items() if k != "offered_irq_per_s")
        run_curves(empty)
        run_json(empty)
        format_run(empty)
        run_markdown(empty)
        at_start = measure(result.trace, 0, 0)
        assert at_start.events == len(result.trace) and not any(
            len(v) for s in at_start.latency.values() for v in s.values()
        )


def test_an_empty_trace_measures_zero() -> None:
    result = run("small-2socket", duration_ms=1)
    nothing = _before(result.trace, -1)
    m = measure(nothing, 0, 1_000_000)
    assert m.events == 0
    assert all(s.acquisitions == 0 for s in m.locks.values())
    assert all(t.steal_pct == 0 and t.hv_pct == 0 for t in m.vcpus.values())
    assert all(np.all(h == 0) for h in m.lock_wait_hist.values())


# -- Ctrl-C --------------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="process groups and SIGINT")
def test_ctrl_c_during_compare_stops_the_workers_and_prints_no_table() -> None:
    """SIGINT to the whole process group, as a terminal's Ctrl-C sends it: one line on
    stderr, nothing on stdout, exit 130, and no worker left behind."""
    command = "compare xen-8socket-passthrough --jobs 2 --seeds 4 --duration-ms 3000 --quiet"
    proc = subprocess.Popen(
        [sys.executable, "-m", "taskletsim", *command.split()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    time.sleep(4.0)  # imports done, workers busy with their first runs
    assert proc.poll() is None, proc.communicate()
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 10, "the workers were waited for, not stopped"
    assert proc.returncode == 130
    assert out == ""
    assert err.strip() == "taskletsim: interrupted: no results printed"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("worker processes outlived the interrupted compare")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to the process")
def test_ctrl_c_in_a_process_pool_fails_its_runs_and_raises_when_the_block_ends() -> None:
    """The signal stops the workers at once; the wait on their runs ends with the runs
    failed (not with KeyboardInterrupt raised inside ``concurrent.futures``, which can
    leave a future's lock held and the shutdown hanging); leaving the block raises
    KeyboardInterrupt and puts the previous handler back."""
    before = signal.getsignal(signal.SIGINT)
    started = time.monotonic()
    failed = []
    with pytest.raises(KeyboardInterrupt), process_pool(2) as executor:
        assert executor is not None
        futures = [executor.submit(time.sleep, 60) for _ in range(4)]
        threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()
        for future in as_completed(futures):
            failed.append(isinstance(future.exception(), BrokenProcessPool))
    assert failed == [True] * 4
    assert time.monotonic() - started < 20
    assert signal.getsignal(signal.SIGINT) is before
