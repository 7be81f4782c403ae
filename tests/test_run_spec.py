"""One run spec: every entry point takes a RunSpec, and the documents and rows carry it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import taskletsim as ts
from taskletsim.output.documents import compare_document, comparison_from_document, run_json

SPEC = ts.RunSpec(
    "small-2socket",
    design="rfc-percpu",
    seed=4,
    duration_ms=3,
    warmup_ms=0.5,
    params={"irq_rate_per_s": 30000},
)


def test_a_spec_is_the_run_its_values_describe() -> None:
    by_spec = ts.run(SPEC)
    by_keywords = ts.run(
        "small-2socket", design="rfc-percpu", seed=4, duration_ms=3, warmup_ms=0.5,
        params={"irq_rate_per_s": 30000},
    )  # fmt: skip
    assert by_spec.digest == by_keywords.digest == ts.run_spec(SPEC).digest
    assert by_spec.spec == SPEC and by_keywords.spec == SPEC
    with pytest.raises(ts.ConfigError, match="seed"):
        ts.run(SPEC, seed=5)  # a value is set in one place


def test_a_spec_is_frozen_and_round_trips() -> None:
    params = {"irq_rate_per_s": 1}
    spec = ts.RunSpec("small-2socket", params=params)
    params["irq_rate_per_s"] = 2
    assert spec.params == {"irq_rate_per_s": 1}  # a copy
    with pytest.raises(AttributeError):
        spec.seed = 3  # type: ignore[misc]
    assert ts.RunSpec.from_dict(json.loads(SPEC.to_json())) == SPEC
    with pytest.raises(ts.ConfigError, match="keys among"):
        ts.RunSpec.from_dict({**SPEC.as_dict(), "sed": 1})


def test_the_json_documents_carry_the_spec() -> None:
    result = ts.run(SPEC)
    doc = run_json(result)
    assert ts.RunSpec.from_dict(doc["spec"]) == SPEC
    assert ts.run(ts.RunSpec.from_dict(doc["spec"])).digest == doc["digest"]
    shared = SPEC.with_(design=None, seed=0)
    comparison = ts.compare(shared, ["xen-4.4-global", "rfc-percpu"], seeds=[4])
    assert comparison.spec == shared
    assert comparison.digests["rfc-percpu"] == (result.digest,)
    cdoc = json.loads(json.dumps(compare_document(comparison)))
    assert "design" not in cdoc["spec"] and cdoc["spec"]["params"] == dict(SPEC.params)
    assert comparison_from_document(cdoc).spec == shared.with_(design=None, seed=0)
    with pytest.raises(ts.ConfigError, match="no design or seed"):
        ts.compare(SPEC, ["rfc-percpu"], seeds=[1])


def test_a_sweeps_rows_carry_each_runs_spec(tmp_path: Path) -> None:
    rows = tmp_path / "rows.parquet"
    shared = ts.RunSpec("small-2socket", duration_ms=2, warmup_ms=0.2)
    result = ts.sweep(shared, {"irq_rate_per_s": [10000, 40000]}, ["linux"], [2], output=rows)
    assert len(result.runs) == 2 and "spec" in result.runs.columns
    assert "spec" not in result.summary.columns  # not a metric
    for row in result.runs.to_dict("records"):
        spec = ts.RunSpec.from_dict(json.loads(row["spec"]))
        assert spec.design == "linux" and spec.seed == 2
        assert spec.params == {"irq_rate_per_s": row["irq_rate_per_s"]}
        assert ts.run(spec).digest == row["digest"]
    again = ts.sweep(shared, {"irq_rate_per_s": [10000, 40000]}, ["linux"], [2], output=rows)
    assert again.reused == 2
