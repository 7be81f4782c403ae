"""Fuzzed command lines: random and malformed ``--set`` values for every parameter of every
scenario (and of every design), random seeds, durations and warm-ups. Only two outcomes
are allowed, within a time bound: exit 0, or exit 2 with one line on stderr."""

from __future__ import annotations

import contextlib
import io
import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskletsim import get_scenario, scenario_designs, scenario_names
from taskletsim.cli import main
from taskletsim.core.config import Param
from taskletsim.designs import get_design

BOUND_S = 20.0
"""No command may take longer (each run is also held to ``--max-wall-s 1``)."""

MALFORMED = (
    "", " ", "abc", "nan", "inf", "-inf", "1e400", "-1e400", "-1", "0", "-0", "1e308",
    "99999999999999999999999", "none", "None", "=", "==1", "0x10", "1_0", " 5 ", "true",
    "1,2", "[1]", "{}", "1e-320", "5e-324", "\u00e9", "\x00", "TTAS", "ttas ",
)  # fmt: skip


def _call(argv: list[str]) -> tuple[int, str, str, float]:
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as stop:  # argparse's own usage errors
            code = int(stop.code or 0)
    return code, out.getvalue(), err.getvalue(), time.perf_counter() - started


def _check(argv: list[str]) -> int:
    code, out, err, wall = _call(argv)
    assert code in (0, 2), f"{argv}: exit {code}\n{err}"
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("taskletsim: error: "), (argv, err)
        assert "Traceback" not in err and out == ""
    else:
        assert out.strip(), argv
    assert wall < BOUND_S, f"{argv}: {wall:.1f} s"
    return code


def _params(scenario: str) -> list[tuple[str | None, Param]]:
    """Every parameter ``scenario`` takes: its own, and each design's options."""
    spec = get_scenario(scenario)
    out: list[tuple[str | None, Param]] = [(None, p) for p in spec.params]
    if spec.takes_design:
        out += [(d, p) for d in scenario_designs(spec) for p in get_design(d).options]
    return out


def _run(scenario: str, design: str | None, sets: list[str], *extra: str) -> list[str]:
    argv = ["run", scenario, "--max-wall-s", "1", "--duration-ms", "0.3"]
    if design is not None:
        argv += ["--design", design]
    for item in sets:
        argv += ["--set", item]
    return argv + list(extra)


@pytest.mark.parametrize("scenario", scenario_names(builtin=True))
def test_every_parameter_takes_malformed_values_cleanly(scenario: str) -> None:
    codes = []
    for design, param in _params(scenario):
        values = [*MALFORMED, str(param.default)]
        if param.kind == "choice":
            values += [c.upper() for c in param.choice_names()] + list(param.choice_names())
        for bound in (param.minimum, param.maximum):
            if bound is not None:
                values += [repr(bound), repr(bound - 1e-9), repr(bound + 1e-9)]
                values += [str(int(bound) - 1), str(int(bound) + 1)]
        for value in values:
            codes.append(_check(_run(scenario, design, [f"{param.name}={value}"])))
    assert 0 in codes and 2 in codes  # both outcomes reached: the values were not all bad


def _number(param: Param) -> st.SearchStrategy[str]:
    low = param.minimum if param.minimum is not None else -1e6
    high = param.maximum if param.maximum is not None else max(abs(low), 1.0) * 1e3
    inside = st.floats(low, high, allow_nan=False, allow_infinity=False)
    if param.kind == "int":
        inside = st.integers(math.ceil(low), math.floor(high)).map(float)
    extreme = st.floats(allow_nan=True, allow_infinity=True)
    pick = st.integers(0, 9).flatmap(lambda k: inside if k < 7 else extreme)
    return pick.map(lambda x: str(int(x)) if param.kind == "int" and math.isfinite(x) else repr(x))


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    scenario = draw(st.sampled_from(scenario_names(builtin=True)))
    spec = get_scenario(scenario)
    design = draw(st.sampled_from(scenario_designs(spec))) if spec.takes_design else None
    params = [p for d, p in _params(scenario) if d in (None, design)]
    chosen = draw(st.lists(st.sampled_from(params), max_size=4, unique_by=lambda p: p.name))
    sets = []
    for param in chosen:
        if param.kind == "choice":
            value = draw(st.sampled_from([*param.choice_names(), "none", "nope"]))
        else:
            value = draw(
                st.sampled_from(MALFORMED) if draw(st.integers(0, 9)) == 0 else _number(param)
            )
        sets.append(f"{param.name}={value}")
    extra = []
    if draw(st.booleans()):
        extra += [
            "--seed",
            draw(
                st.sampled_from(["0", "-1", "2**64", "18446744073709551616", "1.5"])
                | st.integers(0, 2**70).map(str)
            ),
        ]
    if draw(st.booleans()):
        extra += [
            "--duration-ms",
            draw(st.sampled_from(["0", "-1", "1e-7", "1e-6", "2", "1e12", "nan", "x"])),
        ]
    if draw(st.booleans()):
        extra += ["--warmup-ms", draw(st.sampled_from(["0", "-1", "0.1", "0.29", "5", "inf"]))]
    if draw(st.booleans()):
        extra += ["--metrics-only"]
    return _run(scenario, design, sets, *extra)  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(argv=command_lines())
def test_random_command_lines_exit_0_or_with_one_line(argv: list[str]) -> None:
    OUTCOMES.append(_check(argv))


OUTCOMES: list[int] = []
"""Exit statuses of the random command lines, to see both outcomes were reached."""
