"""``--format table|markdown|csv|json`` for run and compare, and every command's help."""

from __future__ import annotations

import csv
import io
import json

import pytest

import taskletsim as ts
from taskletsim.cli import _parser, main
from taskletsim.output.formats import compare_csv, compare_markdown, render_compare
from taskletsim.output.tables import format_compare

from .helpers import XEN_DESIGNS, taskletsim_cli

DESIGNS = XEN_DESIGNS


@pytest.fixture(scope="module")
def comparison() -> ts.Comparison:
    return ts.compare("small-2socket", DESIGNS, seeds=[1, 2], duration_ms=3, warmup_ms=0.5)


def test_compare_table_fits_100_columns_by_wrapping_designs(comparison: ts.Comparison) -> None:
    text = format_compare(comparison)
    assert max(len(line) for line in text.splitlines()) <= 100
    heads = [line for line in text.splitlines() if line.startswith("metric")]
    assert len(heads) >= 2  # four designs do not fit side by side: more than one block
    shown = [d for head in heads for d in head.split()[1:]]
    assert shown == list(DESIGNS)  # each design once, in order
    one = ts.Comparison(
        comparison.scenario,
        DESIGNS[:1],
        comparison.seeds,
        comparison.params,
        {DESIGNS[0]: comparison.estimates[DESIGNS[0]]},
    )
    assert sum(line.startswith("metric") for line in format_compare(one).splitlines()) == 1
    wide = format_compare(comparison, width=400)
    assert sum(line.startswith("metric") for line in wide.splitlines()) == 1


def test_compare_markdown_is_one_table_with_every_metric(comparison: ts.Comparison) -> None:
    text = compare_markdown(comparison)
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    metrics = {m for e in comparison.estimates.values() for m in e}
    assert len(rows) == len(metrics)
    header = next(line for line in text.splitlines() if line.startswith("| metric"))
    assert header == "| metric | " + " | ".join(DESIGNS) + " |"
    assert all(line.count("|") == len(DESIGNS) + 2 for line in rows)


def test_compare_csv_holds_every_estimate(comparison: ts.Comparison) -> None:
    rows = list(csv.DictReader(io.StringIO(compare_csv(comparison))))
    expected = sum(len(e) for e in comparison.estimates.values())
    assert len(rows) == expected
    row = next(r for r in rows if r["metric"] == "idle.steal_pct" and r["design"] == DESIGNS[1])
    est = comparison.estimates[DESIGNS[1]]["idle.steal_pct"]
    assert float(row["mean"]) == est.mean
    assert [float(v) for v in row["values"].split(";")] == list(est.values)
    assert json.loads(render_compare(comparison, "json"))["designs"] == list(DESIGNS)


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "json"])
def test_run_formats_from_the_command_line(fmt: str) -> None:
    args = ["run", "small-2socket", "--duration-ms", "3", "--design", "xen-4.4-global"]
    out = taskletsim_cli(*args, "--design", "linux", "--format", fmt)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    if fmt == "json":
        assert [r["design"] for r in json.loads(text)["runs"]] == ["xen-4.4-global", "linux"]
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert {r["design"] for r in rows} == {"xen-4.4-global", "linux"}
        assert any(r["metric"] == "idle.steal_pct" for r in rows)
    elif fmt == "markdown":
        assert text.count("### small-2socket") == 2 and "| lock | acq/s |" in text
    else:
        assert "lock_stat:" in text and "comparison (same scenario and seed)" in text


def test_json_flag_is_format_json_and_they_conflict() -> None:
    args = ["run", "lock-open", "--duration-ms", "1"]
    a, b = taskletsim_cli(*args, "--json"), taskletsim_cli(*args, "--format", "json")
    assert a.returncode == b.returncode == 0
    strip = [json.loads(x.stdout) for x in (a, b)]
    for doc in strip:
        doc["runs"][0].pop("wall_s")
    assert strip[0] == strip[1]
    bad = taskletsim_cli(*args, "--json", "--format", "csv")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_every_command_renders_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    parser = _parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert commands is not None
    for name in [None, *commands]:
        with pytest.raises(SystemExit) as info:
            main(["--help"] if name is None else [name, "--help"])
        assert info.value.code == 0
        text = capsys.readouterr().out
        assert text.startswith("usage: taskletsim")
    assert {"run", "compare", "sweep", "show", "list"} <= set(commands)


def test_the_command_imports_nothing_heavy_before_it_needs_it() -> None:
    """``taskletsim --help`` and ``list`` answer fast: no pandas, pyarrow, matplotlib or
    Dask is imported until a command needs them."""
    import subprocess
    import sys

    code = (
        "import sys, taskletsim.cli; "
        "print(sorted(m for m in ('pandas', 'pyarrow', 'matplotlib', 'distributed', 'yaml') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
