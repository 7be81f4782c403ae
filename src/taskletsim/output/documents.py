"""Documents: a run's, a comparison's and a sweep's JSON, and a comparison read back.

The JSON schema (``"schema": 1``) is documented in docs/json.md; keys are
only ever added, never renamed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..metrics import LockStats, VcpuTime
from ..metrics.measure import Measurements, measure
from ..metrics.steal import lock_readings
from ..runner.result import RunResult

if TYPE_CHECKING:
    import pandas as pd

    from ..runner.compare import Comparison

JSON_SCHEMA = 1


def lock_json(stats: LockStats) -> dict[str, Any]:
    """One lock's entry under ``runs[i].locks``."""
    return {
        "acquisitions": stats.acquisitions,
        "contentions": stats.contentions,
        "bounces": stats.bounces,
        "con_bounces": stats.con_bounces,
        "acquisitions_per_s": stats.acquisitions_per_s,
        "wait_ns": stats.wait.as_dict(),
        "hold_ns": stats.hold.as_dict(),
    }


def measured_from(result: RunResult, start_ns: int | None = None) -> Measurements:
    """The run's measurements from ``start_ns`` (by default its warm-up) to its end."""
    if start_ns is None or start_ns == result.warmup_ns:
        return result.measured()
    if result.measurements is not None:
        raise ValueError(
            f"start_ns={start_ns}: a metrics-only run was measured from its warm-up "
            f"({result.warmup_ns} ns) only"
        )
    return measure(result.trace, start_ns, result.duration_ns)


def run_json(result: RunResult, start_ns: int | None = None) -> dict[str, Any]:
    """One entry of ``runs``: identity, size, the scenario's facts, and the metrics
    (measured from ``start_ns``, by default the run's warm-up)."""
    m = measured_from(result, start_ns)
    doc: dict[str, Any] = {
        "spec": result.spec.as_dict(),
        "design": result.design,
        "seed": result.seed,
        "duration_ns": result.duration_ns,
        "warmup_ns": m.start_ns,
        "events": m.events,
        "wall_s": result.wall_s,
        "digest": result.digest,
        "truncated": result.truncated,
        **result.info,
        **({"requested_duration_ns": result.requested_duration_ns} if result.truncated else {}),
        "locks": {name: lock_json(s) for name, s in m.locks.items()},
    }
    if m.meta.irq:
        doc["irqs"] = {name: c.as_dict() for name, c in m.irqs.items()}
        doc["irq_latency"] = {
            source: {stage: lat.as_dict() for stage, lat in stages.items()}
            for source, stages in m.irq_latency().items()
        }
    if m.meta.vcpus:
        owners = m.meta.vcpus
        doc["vcpus"] = {
            name: {
                "domain": owners[name].domain,
                "workload": owners[name].workload,
                **times_json(t, m.lock_wait.get(name, 0)),
                "intervals": {state: i.as_dict() for state, i in t.intervals.items()},
            }
            for name, t in m.vcpus.items()
        }
        spun: dict[str, int] = {}
        for name, ns in m.lock_wait.items():
            domain = owners[name].domain if name in owners else name
            spun[domain] = spun.get(domain, 0) + ns
        doc["domains"] = {
            name: times_json(t, spun.get(name, 0)) for name, t in m.domain_times().items()
        }
    return doc


def times_json(t: VcpuTime, lock_wait_ns: int) -> dict[str, Any]:
    """A vCPU's or a domain's times and readings: :meth:`VcpuTime.as_dict`, then
    ``lock_wait_ns`` (RUNNING while its pCPU spun on a lock) and its readings."""
    return {
        **t.as_dict(),
        "lock_wait_ns": lock_wait_ns,
        **lock_readings(lock_wait_ns, t.running_ns, t.window_ns),
    }


def document(scenario: str, params: Mapping[str, Any], runs: Iterable[RunResult]) -> dict[str, Any]:
    """The whole ``--json`` document."""
    return {
        "schema": JSON_SCHEMA,
        "scenario": scenario,
        "params": dict(params),
        "runs": [run_json(r) for r in runs],
    }


def metric_order(name: str) -> tuple[int, str]:
    for rank, prefix in enumerate(
        (
            "lock.tasklet_lock.",
            "idle.",
            "busy.",
            "mixed.",
            "offered_",
            "arrived_",
            "raised_",
            "coalesced_",
            "held_",
            "polled_",
            "virq_coalesced_",
            "delivered_",
            "latency.device.",
            "latency.timer.",
            "lock.",
        )
    ):
        if name.startswith(prefix):
            return rank, name
    return 99, name


def compare_document(comparison: Comparison) -> dict[str, Any]:
    """The ``compare --json`` document (schema 1)."""
    metrics: dict[str, dict[str, Any]] = {}
    for design in comparison.designs:
        for name, est in comparison.estimates[design].items():
            metrics.setdefault(name, {})[design] = {
                "mean": est.mean,
                "ci95": None if math.isnan(est.ci95) else est.ci95,
                "ratio": None if math.isnan(r := comparison.ratio(design, name)) else r,
                "values": list(est.values),
            }
    shared = comparison.spec.as_dict() if comparison.spec is not None else None
    if shared is not None:
        del shared["design"], shared["seed"]  # each run's: the designs and seeds below
    return {
        "schema": JSON_SCHEMA,
        "scenario": comparison.scenario,
        "spec": shared,
        "params": comparison.params,
        "seeds": list(comparison.seeds),
        "designs": list(comparison.designs),
        "metrics": dict(sorted(metrics.items(), key=lambda kv: metric_order(kv[0]))),
        "digests": {d: list(v) for d, v in comparison.digests.items()},
        "curves": {d: list(v) for d, v in comparison.curves.items()},
        "truncated": {
            d: {str(seed): ns for seed, ns in stops.items()}
            for d, stops in comparison.truncated.items()
        },
    }


def comparison_from_document(doc: Mapping[str, Any]) -> Comparison:
    """A :class:`Comparison` back from its ``compare --json`` document (to plot it)."""
    from ..runner.compare import Comparison
    from ..runner.spec import RunSpec
    from ..runner.stats import Estimate

    try:
        designs = tuple(doc["designs"])
        estimates: dict[str, dict[str, Estimate]] = {d: {} for d in designs}
        for name, per_design in doc["metrics"].items():
            for design, e in per_design.items():
                ci = math.nan if e["ci95"] is None else float(e["ci95"])
                estimates[design][name] = Estimate(float(e["mean"]), ci, tuple(e["values"]))
        return Comparison(
            scenario=str(doc["scenario"]),
            designs=designs,
            seeds=tuple(doc["seeds"]),
            params=dict(doc["params"]),
            estimates=estimates,
            digests={d: tuple(v) for d, v in doc.get("digests", {}).items()},
            curves={d: tuple(v) for d, v in doc.get("curves", {}).items()},
            truncated={
                d: {int(seed): int(ns) for seed, ns in stops.items()}
                for d, stops in doc.get("truncated", {}).items()
            },
            spec=RunSpec.from_dict(doc["spec"]) if doc.get("spec") else None,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(
            f"not a compare --json document ({type(error).__name__}: {error})"
        ) from None


def sweep_document(scenario: str, summary: pd.DataFrame, grid: Sequence[str], runs: int,
                   reused: int) -> dict[str, Any]:  # fmt: skip
    """The ``sweep --json`` document: one summary record per (grid point, design), NaN as
    null."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and math.isnan(value):
            return None
        return value.item() if hasattr(value, "item") else value

    return {
        "schema": JSON_SCHEMA,
        "scenario": scenario,
        "grid": list(grid),
        "runs": runs,
        "reused": reused,
        "summary": [
            {str(k): clean(v) for k, v in row.items()} for row in summary.to_dict("records")
        ],
    }
