"""The ``taskletsim`` command: output, determinism across processes, bad input."""

from __future__ import annotations

import json

import pytest

import taskletsim as ts
from taskletsim.cli import main

from .helpers import taskletsim_cli

cli = taskletsim_cli


def without_wall(doc: dict) -> dict:  # type: ignore[type-arg]
    for run in doc["runs"]:
        run.pop("wall_s")
    return doc


def test_json_document_schema() -> None:
    out = cli("run", "lock-open", "--duration-ms", "5", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["schema"] == 1
    assert doc["scenario"] == "lock-open"
    assert doc["params"]["lock"] == "ttas"
    (run,) = doc["runs"]
    assert set(run) >= {"design", "seed", "duration_ns", "events", "wall_s", "locks"}
    assert run["duration_ns"] == 5_000_000
    lock = run["locks"]["lock"]
    assert set(lock) >= {"acquisitions", "contentions", "bounces", "wait_ns", "hold_ns"}
    for key in ("wait_ns", "hold_ns"):
        assert set(lock[key]) == {"min", "mean", "max", "total"}
    assert 0 < lock["contentions"] < lock["acquisitions"]
    assert lock["wait_ns"]["mean"] == pytest.approx(lock["wait_ns"]["total"] / lock["contentions"])


def test_same_seed_same_json_in_two_processes_other_seed_differs() -> None:
    args = ("run", "lock-open", "--duration-ms", "20", "--set", "lock=ticket", "--json")
    first = cli(*args, "--seed", "11")
    second = cli(*args, "--seed", "11")
    other = cli(*args, "--seed", "12")
    assert first.returncode == second.returncode == other.returncode == 0
    a, b, c = (without_wall(json.loads(x.stdout)) for x in (first, second, other))
    assert json.dumps(a) == json.dumps(b)
    assert a["runs"][0]["locks"] != c["runs"][0]["locks"]


def test_readable_output_has_both_lock_tables() -> None:
    out = cli("run", "lock-closed", "--duration-ms", "2", "--set", "lock=mcs")
    assert out.returncode == 0, out.stderr
    assert "holdtime-avg" in out.stdout
    assert "total blocked time:" in out.stdout


def test_list_names_scenarios_and_parameters() -> None:
    out = cli("list")
    assert out.returncode == 0
    assert "lock-open" in out.stdout and "lock-closed" in out.stdout
    assert "rate_per_s" in out.stdout


BAD = [
    (["run", "no-such-scenario"], "scenario"),
    (["run", "lock-open", "--set", "colour=blue"], "colour"),
    (["run", "lock-open", "--set", "rate_per_s=fast"], "rate_per_s"),
    (["run", "lock-open", "--set", "cpus=0"], "cpus"),
    (["run", "lock-open", "--set", "cpus=-4"], "cpus"),
    (["run", "lock-open", "--set", "rate_per_s=-1"], "rate_per_s"),
    (["run", "lock-open", "--set", "rate_per_s=0"], "rate_per_s"),
    (["run", "lock-closed", "--set", "think_ns=0"], "think_ns"),
    (["run", "lock-open", "--set", "lock=rwlock"], "lock"),
    (["run", "lock-open", "--set", "cpus=6", "--set", "sockets=4"], "cpus"),
    (["run", "lock-open", "--duration-ms", "0"], "duration_ms"),
    (["run", "lock-open", "--duration-ms", "-3"], "duration_ms"),
    (["run", "lock-open", "--duration-ms", "soon"], "duration_ms"),
    (["run", "lock-open", "--seed", "x"], "seed"),
    (["run", "lock-open", "--set", "novalue"], "--set"),
    (["run", "lock-open", "--design", "rfc-percpu"], "design"),
    (["frobnicate"], "frobnicate"),
    (["run"], "scenario"),
]


@pytest.mark.parametrize(("args", "field"), BAD)
def test_bad_input_one_line_exit_2(
    args: list[str], field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main(args))
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert field in err
    assert "Traceback" not in err


def test_bad_input_in_a_fresh_process_has_no_traceback() -> None:
    out = cli("run", "lock-open", "--set", "cpus=0")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cpus": 0}, "cpus"),
        ({"rate_per_s": "abc"}, "rate_per_s"),
        ({"hold": "weibull"}, "hold"),
        ({"numa_bias": 0.5}, "numa_bias"),
        ({"transfer_ns": -1}, "transfer_ns"),
        ({"unknown": 1}, "--set"),
    ],
)
def test_library_raises_config_error_naming_the_field(params: dict, field: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ts.ConfigError) as exc:
        ts.run("lock-open", duration_ms=1, params=params)
    assert exc.value.field == field
    assert field in str(exc.value)


def test_library_checks_seed_and_duration() -> None:
    with pytest.raises(ts.ConfigError, match="seed"):
        ts.run("lock-open", seed=-1)
    with pytest.raises(ts.ConfigError, match="duration_ms"):
        ts.run("lock-open", duration_ms=0)


def test_version_and_plain_help() -> None:
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    version = project["project"]["version"]
    out = cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"taskletsim {version}"
    assert ts.__version__ == version
    helped = cli("--help")
    assert helped.returncode == 0 and "taskletsim COMMAND --help" in helped.stdout
    assert "``" not in helped.stdout and ":class:" not in helped.stdout


UNCREATABLE = "/proc/taskletsim-no-such-dir/out"
"""A path whose folder exists as far as a folder check goes (/proc) but where no file can
be made, not even by root."""


@pytest.mark.parametrize(
    "args",
    [
        ["run", "small-2socket", "--save-trace", f"{UNCREATABLE}.parquet"],
        ["run", "small-2socket", "--chrome-trace", f"{UNCREATABLE}.json"],
        ["run", "small-2socket", "--design", "linux", "--design", "rfc-percpu",
         "--save-trace", "/proc/trace.parquet"],
        ["compare", "small-2socket", "--seeds", "1", "--html", "/proc/report.html"],
        ["sweep", "small-2socket", "--grid", "irq_rate_per_s=1000,2000", "--seeds", "1",
         "-o", "/proc/rows.parquet"],
        ["plot", "timeline", "--scenario", "small-2socket", "-o", "/proc/timeline.png"],
    ],
)  # fmt: skip
def test_an_output_path_where_no_file_can_be_made_fails_before_any_run(args: list[str]) -> None:
    """Checked by making the file before the runs: a run of 10 simulated seconds would
    take minutes; the refusal comes at once, in one line, naming the option."""
    import time

    started = time.perf_counter()
    out = cli(*args, "--duration-ms", "10000")
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("taskletsim: error:")
    flag = next(a for a in args if a.startswith("-") and a not in ("--design", "--seeds",
                "--grid", "--scenario"))  # fmt: skip
    assert flag in out.stderr and "a path where a file can be written" in out.stderr
    assert time.perf_counter() - started < 30


def test_an_output_file_made_for_a_run_that_fails_is_removed(tmp_path: object) -> None:
    """The claimed file goes again when the command fails after claiming it (here the run
    refuses its wall-time limit); a file that was there before is left as it was."""
    from pathlib import Path

    from taskletsim.output.files import OutputFiles

    folder = Path(str(tmp_path))
    trace = folder / "run.parquet"
    out = cli("run", "small-2socket", "--duration-ms", "2", "--save-trace", str(trace),
              "--max-wall-s", "-1")  # fmt: skip
    assert out.returncode == 2 and "max_wall_s" in out.stderr and not trace.exists()
    kept, made = folder / "kept.html", folder / "made.html"
    kept.write_text("mine")
    with pytest.raises(RuntimeError), OutputFiles() as files:
        files.claim("--html", kept, (".html",))
        files.claim("--html", made, (".html",))
        assert made.exists()
        raise RuntimeError("the runs failed")
    assert kept.read_text() == "mine" and not made.exists()
    with OutputFiles() as files:
        files.probe("-o", folder / "rows.parquet", (".parquet",))
    assert not (folder / "rows.parquet").exists()  # a sweep's rows: checked, not made
