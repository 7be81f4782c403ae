"""Golden contention numbers: what is pinned, and the command that regenerates them.

    python tests/golden.py        # rewrite tests/golden/*.json from the current model

Every design on ``small-2socket`` (20 ms) and a shortened
``xen-8socket-passthrough`` (15 ms, 5 ms warm-up), seeds 1 and 2. A change
to the model shows up as a reviewable diff of these files; commit it with
the change that caused it, saying why the numbers moved.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent / "golden"


def designs() -> tuple[str, ...]:
    """The package's own designs, from the registry."""
    import taskletsim as ts

    return tuple(ts.design_names(builtin=True))


SEEDS = (1, 2)
CASES: dict[str, dict[str, Any]] = {
    "small-2socket": {"duration_ms": 20, "warmup_ms": 2},
    "xen-8socket-passthrough": {"duration_ms": 15, "warmup_ms": 5},
}


def pinned(scenario: str, design: str, seed: int) -> dict[str, Any]:
    """The pinned figures of one run."""
    import taskletsim as ts
    from taskletsim.metrics import class_times, irq_latency_by_kind

    r = ts.run(scenario, design=design, seed=seed, **CASES[scenario])
    start = r.warmup_ns
    out: dict[str, Any] = {"events": len(r.trace)}
    for name, s in ts.lock_stats(r.trace, start_ns=start).items():
        if s.acquisitions:
            out[f"lock {name}"] = {
                "acquisitions": s.acquisitions,
                "contentions": s.contentions,
                "bounces": s.bounces,
                "wait_total_ns": s.wait.total,
                "hold_total_ns": s.hold.total,
            }
    for cls, t in class_times(r.trace, start).items():
        out[f"guests {cls}"] = {
            "running_ns": t.running_ns,
            "runnable_ns": t.runnable_ns,
            "steal_pct": t.steal_pct,
            "hv_pct": t.hv_pct,
        }
    for kind, stages in irq_latency_by_kind(r.trace, start).items():
        for stage, lat in stages.items():
            out[f"latency {kind} {stage}"] = {
                "count": lat.count,
                "p50_ns": lat.p50_ns,
                "p99_ns": lat.p99_ns,
                "max_ns": lat.max_ns,
            }
    return out


def path(scenario: str) -> Path:
    return HERE / f"{scenario}.json"


def regenerate() -> None:
    for scenario in CASES:
        doc = {
            f"{design} seed {seed}": pinned(scenario, design, seed)
            for design in designs()
            for seed in SEEDS
        }
        path(scenario).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        print(f"wrote {path(scenario)}", file=sys.stderr)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent.parent / "src"))
    regenerate()
