"""``taskletsim import`` / ``export`` and ``run --xentrace``, in a fresh process each."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from taskletsim.capture import import_ftrace, import_xentrace
from taskletsim.cli_capture import _progress
from taskletsim.core.trace import Trace
from taskletsim.metrics.runstates import vcpu_times

from .helpers import taskletsim_cli

SAMPLE = Path(__file__).parent / "data" / "xentrace" / "sample.xentrace"
HAND_PERF = Path(__file__).parent / "data" / "ftrace" / "hand-perf-script.txt"


def test_import_xentrace_writes_the_trace_and_says_what_it_read(tmp_path: Path) -> None:
    out = tmp_path / "sample.parquet"
    done = taskletsim_cli("import", "xentrace", str(SAMPLE), "--cpu-hz", "2.4e9", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "180680 records in 187 windows, 8 pCPUs" in done.stdout
    assert "27 wrap records" in done.stdout
    assert "d14v2         934.571" in done.stdout
    assert Trace.load(out).equals(import_xentrace(SAMPLE, 2.4e9))
    lockprof = tmp_path / "lockprof.txt"
    lockprof.write_text(
        "global lock tasklet_lock : lock:   12345(   0.001234567s), block:   67(   0.000089s)\n"
        "total profiling time:   3.5s\n"
    )
    done = taskletsim_cli(
        "import", "xentrace", str(SAMPLE), "--cpu-hz", "2.4e9", "-o", str(out),
        "--lockprof", str(lockprof), "--quiet",
    )  # fmt: skip
    assert "xenlockprof totals (no events: Xen traces no lock) over 3.5 s" in done.stdout
    assert "global lock tasklet_lock: 12345 taken, 67 blocked, held 1.235 ms" in done.stdout


def test_the_progress_bar_is_drawn_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    with _progress(100, quiet=False) as advance:
        assert advance is None  # pytest's stderr is not a terminal
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with _progress(100, quiet=True) as advance:
        assert advance is None
    with _progress(100, quiet=False) as advance:
        assert advance is not None
        advance(50)


def test_import_perf_writes_the_trace_and_what_the_capture_shows(tmp_path: Path) -> None:
    out = tmp_path / "perf.parquet"
    done = taskletsim_cli("import", "perf", str(HAND_PERF), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "perf hand-perf-script.txt: 16 event lines, 2 CPUs, 0.114 ms" in done.stdout
    assert "skipped 1 lines of 1 other events (timer:hrtimer_cancel x1)" in done.stdout
    assert "softirq BLOCK: 0.012 ms" in done.stdout
    assert "lock 0xffff8881012a4b68: 2 contended, wait total 16.5 us" in done.stdout
    assert Trace.load(out).equals(import_ftrace(HAND_PERF))


def test_run_xentrace_and_export_write_the_same_capture(tmp_path: Path) -> None:
    run_args = ["small-2socket", "--duration-ms", "5", "--seed", "3"]
    first = taskletsim_cli(
        "run", *run_args, "--xentrace", str(tmp_path / "a.xentrace"), "--cpu-hz", "3e9",
        "--save-trace", str(tmp_path / "a.parquet"),
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    done = taskletsim_cli(
        "export", "xentrace", str(tmp_path / "a.parquet"), "-o", str(tmp_path / "b.xentrace"),
        "--cpu-hz", "3e9",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "a.xentrace").read_bytes() == (tmp_path / "b.xentrace").read_bytes()
    back = import_xentrace(tmp_path / "a.xentrace", 3e9)
    ours = vcpu_times(Trace.load(tmp_path / "a.parquet"), 0, back.meta.duration_ns)
    assert sorted(vt.running_ns for vt in ours.values()) == sorted(
        vt.running_ns for vt in vcpu_times(back).values()
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["import", "xentrace", str(SAMPLE), "--cpu-hz", "0", "-o", "x.parquet"], "cpu_hz"),
        (["import", "xentrace", "README.md", "--cpu-hz", "2e9", "-o", "x.parquet"], "byte 0"),
        (["import", "xentrace", "nothing.bin", "--cpu-hz", "2e9", "-o", "x.parquet"], "existing"),
        (["import", "xentrace", str(SAMPLE), "--cpu-hz", "2e9", "-o", "x.csv"], ".parquet"),
        (["export", "xentrace", "nothing.parquet", "-o", "x.xentrace"], "trace file"),
        (["import", "perf", "README.md", "-o", "x.parquet"], "trace text"),
        (["run", "small-2socket", "--metrics-only", "--xentrace", "x.xentrace"], "--xentrace"),
    ],
)
def test_bad_input_is_one_line_and_status_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    if "README.md" in args:
        (tmp_path / "README.md").write_text("# not a trace\n" * 4)
    monkeypatch.chdir(tmp_path)
    done = taskletsim_cli(*args)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr
    assert not (tmp_path / "x.parquet").exists()


def test_report_shows_what_a_capture_covers_and_names_what_it_does_not(tmp_path: Path) -> None:
    perf = tmp_path / "perf.parquet"
    import_ftrace(HAND_PERF).save(perf)
    done = taskletsim_cli(
        "report", str(perf), "--chrome-trace", str(tmp_path / "p.json"),
        "--html", str(tmp_path / "p.html"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "softirq p50 11.23 us" in done.stdout
    assert "lock 0xffff8881012a4b68: 2 contended" in done.stdout
    assert "not in this capture: runstates (needs RUNSTATE_CHANGE)" in done.stdout
    assert "not in this capture: lock hold times (lock_stat) (needs LOCK_RELEASE)" in done.stdout
    chrome = json.loads((tmp_path / "p.json").read_text())
    assert chrome["otherData"]["source"] == "perf hand-perf-script.txt"
    assert not [e for e in chrome["traceEvents"] if e["ph"] in ("s", "t", "f")]  # no flows
    page = (tmp_path / "p.html").read_text()
    assert "What its source cannot see" in page and "data:image/png;base64," in page
    xen = tmp_path / "xen.parquet"
    import_xentrace(SAMPLE, 2.4e9).save(xen)
    done = taskletsim_cli("report", str(xen), "--json")
    doc = json.loads(done.stdout)
    assert doc["vcpus"]["d14v2"]["running_ns"] == 934_570_532
    assert doc["not_covered"]["contention"] == ["LOCK_CONTEND", "LOCK_ACQUIRE"]
    assert "contention" not in doc and "softirq_ns" not in doc


def test_report_of_a_saved_run_shows_every_section(tmp_path: Path) -> None:
    done = taskletsim_cli(
        "run", "small-2socket", "--duration-ms", "3", "--save-trace", str(tmp_path / "r.parquet")
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(taskletsim_cli("report", str(tmp_path / "r.parquet"), "--json").stdout)
    assert not doc["not_covered"] and doc["source"] is None
    assert {"vcpus", "irqs", "latency_from_entry", "softirq_ns", "contention", "locks"} <= set(doc)


def test_fit_writes_a_host_file_that_runs(tmp_path: Path) -> None:
    run = taskletsim_cli(
        "run", "small-2socket", "--duration-ms", "200", "--design", "rfc-percpu",
        "--save-trace", str(tmp_path / "r.parquet"),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    done = taskletsim_cli("fit", str(tmp_path / "r.parquet"), "-o", str(tmp_path / "host.toml"))
    assert done.returncode == 0, done.stderr
    assert "busy0: 1 vCPUs, busy, pinned, ticks 1000/s" in done.stdout
    assert "busy0:msi0:" in done.stdout and "poisson (KS p" in done.stdout
    again = taskletsim_cli("run", str(tmp_path / "host.toml"), "--duration-ms", "5")
    assert again.returncode == 0, again.stderr
    assert "scenario host, design rfc-percpu" in again.stdout
    bad = taskletsim_cli("fit", str(tmp_path / "r.parquet"), "-o", str(tmp_path / "h.toml"),
                         "--topology", "1x2")  # fmt: skip
    assert bad.returncode == 2 and "at least 8 CPUs" in bad.stderr
    assert not (tmp_path / "h.toml").exists()
