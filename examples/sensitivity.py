"""Sensitivity of the seed's measurement to what the seed does not say.

For every design, vary one factor of ``xen-8socket-passthrough`` at a time
around its defaults and record idle guests' steal and hypervisor share of
RUNNING, busy guests' delivered interrupt rate and the p99 passthrough
latency (raise -> vIRQ injected; undelivered interrupts count with the time
to the end of the run). Writes docs/sensitivity.csv and docs/figures/*.png.

    pip install '.[plot]' && python examples/sensitivity.py [--duration-ms 60]
"""

from __future__ import annotations

import argparse
import csv
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import taskletsim as ts
from taskletsim.runner.compare import run_summary

DESIGNS = ts.design_names(builtin=True)
FACTORS: dict[str, tuple[str, list[Any]]] = {
    "rate": ("irq_rate_per_s", [2000, 5000, 8000, 10000, 11000, 12000, 15000, 20000]),
    "rate_overcommit2": ("irq_rate_per_s", [2000, 5000, 8000, 9000, 10000, 12000, 20000]),
    "vcpus_per_idle_cpu": ("vcpus_per_idle_cpu", [1, 2, 4]),
    "tick_hz": ("tick_hz", [250, 1000, 2000]),
    "sockets": ("sockets", [2, 4, 8]),
}
ROOT = Path(__file__).parent.parent / "docs"


def one(job: tuple[str, str, Any, float]) -> dict[str, Any]:
    factor, design, value, duration_ms = job
    key = FACTORS[factor][0]
    params: dict[str, Any] = {key: value}
    if factor == "rate_overcommit2":
        params["vcpus_per_idle_cpu"] = 2
    if factor == "sockets":
        params["busy_sockets"] = value // 2
    result = ts.run(
        "xen-8socket-passthrough",
        design=design,
        seed=1,
        duration_ms=duration_ms,
        warmup_ms=duration_ms / 6,
        params=params,
    )
    s = run_summary(result)
    offered = s.get("raised_irq_per_s", 0.0)
    return {
        "factor": factor,
        "value": value,
        "design": design,
        "idle_steal_pct": s.get("idle.steal_pct", 0.0),
        "idle_hv_pct": s.get("idle.hv_pct", 0.0),
        "idle_lock_wait_pct_of_running": s.get("idle.lock_wait_pct_of_running", 0.0),
        "busy_delivered_pct": 100.0 * s.get("delivered_irq_per_s", 0.0) / offered if offered else 0,
        "p99_virq_us": s.get("latency.device.virq.p99_ns", 0.0) / 1000,
        "tasklet_lock_wait_ns": s.get("lock.tasklet_lock.wait_mean_ns", 0.0),
    }


def plot(rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [
        ("idle_steal_pct", "idle guests' steal %"),
        ("idle_hv_pct", "hypervisor % of idle RUNNING"),
        ("busy_delivered_pct", "busy guests: delivered % of raised"),
        ("p99_virq_us", "p99 passthrough latency, us (log)"),
    ]
    for factor in FACTORS:
        fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
        for ax, (metric, label) in zip(axes, metrics, strict=True):
            for design in DESIGNS:
                pts = [
                    (r["value"], r[metric])
                    for r in rows
                    if r["factor"] == factor and r["design"] == design
                ]
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=design)
            ax.set_xlabel(
                FACTORS[factor][0]
                + (" (2 vCPUs per idle pCPU)" if factor == "rate_overcommit2" else "")
            )
            ax.set_title(label, fontsize=9)
            if metric == "p99_virq_us":
                ax.set_yscale("log")
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(ROOT / "figures" / f"sensitivity_{factor}.png", dpi=80)
        plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-ms", type=float, default=60.0)
    args = parser.parse_args()
    jobs = [
        (f, d, v, args.duration_ms)
        for f, (_, values) in FACTORS.items()
        for d in DESIGNS
        for v in values
    ]
    with ProcessPoolExecutor() as pool:
        rows = list(pool.map(one, jobs))
    with open(ROOT / "sensitivity.csv", "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot(rows)
    print(f"{len(rows)} runs: docs/sensitivity.csv, docs/figures/sensitivity_*.png")


if __name__ == "__main__":
    main()
