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
