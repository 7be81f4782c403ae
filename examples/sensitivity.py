"""Sensitivity of the seed's measurement to what the seed does not say.

For every design, vary one unknown of ``xen-8socket-passthrough`` at a time
around its defaults (with :func:`taskletsim.runner.sweep.sweep`, seed 1) and
record idle guests' steal, the lock spinning inside their RUNNING time,
busy guests' delivered share of raised MSIs and the p99 passthrough latency
(raise -> vIRQ injected; interrupts not yet delivered count with the time to
the end of the run). Writes docs/sensitivity.csv and docs/figures/sensitivity_*.png.

    pip install '.[plot]' && python examples/sensitivity.py [--duration-ms 60]
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

import taskletsim as ts
from taskletsim.runner.sweep import sweep

DESIGNS = ts.design_names(builtin=True)
FACTORS: dict[str, list[Any]] = {
    "irq_rate_per_s": [1000, 2000, 5000, 10000, 20000, 50000],
    "idle_vcpus": [6, 8, 10, 13],
    "spinner_share": [0.0, 0.25, 0.5, 1.0],
    "tick_hz": [250, 1000],
    "device_model": ["napi", "eoi", "open"],
    "skew_tick": ["off", "on"],
}
ROOT = Path(__file__).parent.parent / "docs"
METRICS = [
    ("idle.steal_pct", "idle guests' steal %"),
    ("idle.lock_wait_pct_of_running", "lock spinning, % of idle RUNNING"),
    ("delivered_pct", "busy guests: delivered % of raised MSIs"),
    ("latency.device.virq.p99_ns", "p99 passthrough latency, ns (log)"),
]


def plot(table: pd.DataFrame) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for factor, values in FACTORS.items():
        sub = table[table.factor == factor]
        fig, axes = plt.subplots(1, len(METRICS), figsize=(17, 3.6))
        numeric = all(isinstance(v, int | float) for v in values)
        for ax, (metric, label) in zip(axes, METRICS, strict=True):
            for design in DESIGNS:
                mine = sub[sub.design == design]
                xs = mine.value.astype(float) if numeric else range(len(mine))
                ax.plot(list(xs), mine[metric].tolist(), marker="o", label=design)
            if not numeric:
                ax.set_xticks(range(len(values)), [str(v) for v in values])
            ax.set_xlabel(factor)
            ax.set_title(label, fontsize=9)
            if metric.startswith("latency"):
                ax.set_yscale("log")
        axes[0].legend(fontsize=7)
        fig.suptitle(f"xen-8socket-passthrough: {factor}, the rest at the defaults", fontsize=10)
        fig.tight_layout()
        fig.savefig(ROOT / "figures" / f"sensitivity_{factor}.png", dpi=80)
        plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-ms", type=float, default=60.0)
    args = parser.parse_args()
    parts = []
    with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
        for factor, values in FACTORS.items():
            result = sweep(
                "xen-8socket-passthrough",
                {factor: values},
                designs=DESIGNS,
                seeds=[1],
                duration_ms=args.duration_ms,
                warmup_ms=args.duration_ms / 6,
                executor=pool,
                check=False,
            )
            runs = result.runs.rename(columns={factor: "value"})
            runs.insert(0, "factor", factor)
            parts.append(runs)
    table = pd.concat(parts, ignore_index=True)
    raised = table["raised_irq_per_s"].where(table["raised_irq_per_s"] > 0)
    table["delivered_pct"] = 100.0 * table["delivered_irq_per_s"] / raised
    table.to_csv(ROOT / "sensitivity.csv", index=False, float_format="%.6g")
    plot(table)
    print(f"{len(table)} runs: docs/sensitivity.csv, docs/figures/sensitivity_*.png")


if __name__ == "__main__":
    main()
