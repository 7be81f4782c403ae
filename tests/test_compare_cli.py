"""``taskletsim compare``: designs side by side on the same seeds."""

from __future__ import annotations

import json
import math

import pytest

from taskletsim.cli import main
from taskletsim.runner.stats import Estimate, t95

from .helpers import taskletsim_cli


def test_compare_json_has_means_cis_and_ratios() -> None:
    out = taskletsim_cli(
        "compare",
        "small-2socket",
        "--seeds",
        "3",
        "--duration-ms",
        "10",
        "--design",
        "xen-4.4-global",
        "--design",
        "rfc-percpu",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["designs"] == ["xen-4.4-global", "rfc-percpu"]
    assert doc["seeds"] == [1, 2, 3]
    steal = doc["metrics"]["idle.steal_pct"]
    for design in doc["designs"]:
        entry = steal[design]
        assert len(entry["values"]) == 3
        assert entry["mean"] == pytest.approx(sum(entry["values"]) / 3)
        assert entry["ci95"] is not None
    assert steal["xen-4.4-global"]["ratio"] == pytest.approx(1.0)
    assert steal["rfc-percpu"]["ratio"] == pytest.approx(
        steal["rfc-percpu"]["mean"] / steal["xen-4.4-global"]["mean"]
    )


def test_compare_text_table() -> None:
    out = taskletsim_cli(
        "compare", "small-2socket", "--seeds", "1", "--duration-ms", "5", "--jobs", "1"
    )
    assert out.returncode == 0, out.stderr
    assert "idle.steal_pct" in out.stdout and "linux" in out.stdout


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["compare", "small-2socket", "--seeds", "0"], "seeds"),
        (["compare", "lock-open"], "scenario"),
        (["compare", "small-2socket", "--design", "nope"], "design"),
        (["compare", "small-2socket", "--duration-ms", "5", "--warmup-ms", "6"], "warmup_ms"),
    ],
)
def test_compare_bad_input(args: list[str], field: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert field in err and err.count("\n") == 1


def test_confidence_interval_by_hand() -> None:
    """Values 1, 2, 3: mean 2, sd 1, half-width t(2) * 1 / sqrt(3) = 4.303 / 1.732."""
    est = Estimate.of([1.0, 2.0, 3.0])
    assert est.mean == 2.0
    assert est.ci95 == pytest.approx(4.303 / math.sqrt(3))
    assert math.isnan(Estimate.of([5.0]).ci95)
    same = 0.1 + 0.2 / 3  # a value whose mean over three copies is not exact
    assert Estimate.of([same] * 3) == Estimate(same, 0.0, (same,) * 3)
    assert t95(40) == 1.96
