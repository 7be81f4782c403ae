"""Where do the seed's three observations hold together? A map over what the seed does not say.

The seed reports, for Xen 4.4's global ``tasklet_lock`` on its host:

(a) idle guests lose about 40% of their time to steal (band used: 30-50%),
    read five ways (docs/steal.md): ``steal_pct`` (s, the steal clock over
    wall time), ``steal_top_nohz_pct`` (n, ``top`` in a NO_HZ guest),
    ``steal_top_periodic_pct`` (p, ``top`` in a periodic-tick guest),
    ``runnable_share_of_wanted_pct`` (w) and its guest-mode form (g);
(b) "3 ms out of 30 ms" of their time goes to spinning on the lock (band:
    5-20%), read two ways: per 30 ms of wall time (b: 1.5-6 ms) and as a
    share of RUNNING (r);
(c) passthrough interrupts are still delivered (at least 90% of the MSIs
    raised reach the guest, and some do), but their p99 latency from raise to
    vIRQ injection is at least 10 times the per-CPU RFC's at the same point.

This script sweeps the unknowns of ``xen-8socket-passthrough`` with
:func:`taskletsim.runner.sweep.sweep` (every point with ``xen-4.4-global``
and ``rfc-percpu``, one seed): MSI rate x idle vCPUs (36 lone ones on the 40
idle pCPUs, or 48-96 sharing them), pinned or floating, an idle guest's work
per wake-up, a periodic tick or a NO_HZ guest woken 100 times a second, and
the TTAS cost law's ``spinner_share``; then one more unknown at a time at
each rate. It marks where each reading of each observation holds and writes
docs/calibration.csv and docs/figures/calibration_map.png. No sourced value
is moved: only the unknowns are swept.

    pip install . && python examples/calibration.py [--duration-ms 40] [--quick]
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from taskletsim.runner.sweep import grid_points, sweep

ROOT = Path(__file__).parent.parent / "docs"
SCENARIO = "xen-8socket-passthrough"
MAP: dict[str, list[Any]] = {
    "idle_tick_hz": [1000.0, 100.0],
    "idle_placement": ["pinned", "floating"],
    "spinner_share": [0.25, 0.5, 1.0],
    "idle_burst_ns": [20_000, 50_000, 100_000],
    "idle_vcpus": [6, 8, 10, 13, 16],
    "irq_rate_per_s": [1000, 2000, 5000, 10000, 20000],
}
"""The map: MSI rate per busy vector x vCPUs per idle guest (6 idle guests on 40 idle pCPUs:
36 to 96 vCPUs) x an idle guest's work per wake-up, for each tick, placement and TTAS
spinner share."""
AROUND: dict[str, list[Any]] = {
    "tick_hz": [250, 1000],
    "skew_tick": ["off", "on"],
    "device_model": ["napi", "eoi", "open"],
    "msi_delivery": ["vlapic", "evtchn"],
    "busy_vcpus": [4, 6],
}
"""One unknown at a time, the others at the scenario's defaults, at each MSI rate of the map."""
QUICK: dict[str, list[Any]] = {"idle_vcpus": [6, 13], "irq_rate_per_s": [2000, 20000]}

READINGS_A = {
    "s": "idle.steal_pct",
    "n": "idle.steal_top_nohz_pct",
    "p": "idle.steal_top_periodic_pct",
    "w": "idle.runnable_share_of_wanted_pct",
    "g": "idle.runnable_share_of_wanted_guest_pct",
}
"""Each reading of (a), by the letter the map marks it with; band 30-50%."""
READINGS_B = {
    "b": ("idle.lock_wait_ms_per_30ms_wall", 1.5, 6.0),
    "r": ("idle.lock_wait_pct_of_running", 5.0, 20.0),
}
"""Each reading of (b): its metric and band (5-20% of 30 ms of wall time, or of RUNNING)."""
OWN_READING = {1000.0: "p", 100.0: "n"}
"""What ``top`` shows in the guest itself: a guest ticking at 1 kHz while idle has a
periodic tick; one woken 100 times a second is a NO_HZ guest."""


def judge(points: pd.DataFrame) -> pd.DataFrame:
    """Add each reading of the three observations to each point, and where all hold."""
    g = points[points.design == "xen-4.4-global"].set_index("key")
    r = points[points.design == "rfc-percpu"].set_index("key")
    out = pd.DataFrame(index=g.index)
    for col in points.columns:
        if col not in ("design", "key", "seed", "scenario", "digest", "spec"):
            out[col] = g[col]
    out["rfc_steal_pct"] = r["idle.steal_pct"]
    out["rfc_p99_ns"] = r["latency.device.virq.p99_ns"]
    for letter, metric in READINGS_A.items():
        out[f"a_{letter}"] = out[metric].between(30, 50)
    for letter, (metric, low, high) in READINGS_B.items():
        out[f"b_{letter}"] = out[metric].between(low, high)
    delivered = out["delivered_irq_per_s"] / out["raised_irq_per_s"].where(
        out["raised_irq_per_s"] > 0
    )
    out["c_delivered"] = (delivered >= 0.9) & (
        out["latency.device.virq.p99_ns"] >= 10 * out["rfc_p99_ns"]
    )
    for a in READINGS_A:
        for b in READINGS_B:
            out[f"all_{a}{b}"] = out[f"a_{a}"] & out[f"b_{b}"] & out.c_delivered
    # the seed's earlier readings, kept for scripts that read them
    out["a_steal"], out["b_running"], out["b_wall"] = out.a_s, out.b_r, out.b_b
    out["all_running"], out["all_wall"] = out.all_sr, out.all_sb
    return out.reset_index(drop=True)


def marks(row: pd.Series) -> str:
    """The readings that hold at a point: (a)'s letters, then (b)'s, then ``c``."""
    a = "".join(letter for letter in READINGS_A if row[f"a_{letter}"])
    b = "".join(letter for letter in READINGS_B if row[f"b_{letter}"])
    return f"{a or '-'}/{b or '-'}/{'c' if row.c_delivered else '-'}"


def run_grid(grid: dict[str, list[Any]], fixed: dict[str, Any], args: Any, pool: Any) -> Any:
    result = sweep(
        SCENARIO,
        grid,
        designs=["xen-4.4-global", "rfc-percpu"],
        seeds=[1],
        duration_ms=args.duration_ms,
        warmup_ms=args.duration_ms / 5,
        params=fixed,
        executor=pool,
        metrics_only=True,
    )
    runs = result.runs
    runs["key"] = runs[list(grid)].astype(str).agg("|".join, axis=1)
    for name, value in fixed.items():
        runs[name] = value
    return runs


def plot(table: pd.DataFrame, path: Path) -> None:
    """Panels by tick and placement, at ``spinner_share`` 0.5 and 20 us a wake-up: each
    cell the guest's own ``top`` reading, and the readings that hold there."""
    import matplotlib.pyplot as plt

    ticks, placements = MAP["idle_tick_hz"], MAP["idle_placement"]
    fig, axes = plt.subplots(
        len(placements),
        len(ticks),
        figsize=(5.4 * len(ticks), 4.4 * len(placements)),
        constrained_layout=True,
    )
    rates, vcpus = MAP["irq_rate_per_s"], MAP["idle_vcpus"]
    base = table[(table.spinner_share == 0.5) & (table.idle_burst_ns == 20_000)]
    for i, placement in enumerate(placements):
        for j, tick in enumerate(ticks):
            ax = axes[i][j]
            metric = READINGS_A[OWN_READING[tick]]
            sub = base[(base.idle_placement == placement) & (base.idle_tick_hz == tick)]
            grid = sub.pivot_table(
                index="idle_vcpus", columns="irq_rate_per_s", values=metric
            ).reindex(index=vcpus, columns=rates)
            image = ax.imshow(grid.values, origin="lower", cmap="viridis", vmin=0, vmax=50)
            for (y, x), value in pd.DataFrame(grid.values).stack().items():
                row = sub[(sub.idle_vcpus == vcpus[y]) & (sub.irq_rate_per_s == rates[x])]
                ax.text(x, y, f"{value:.0f}%\n{marks(row.iloc[0])}", ha="center", va="center",
                        fontsize=6.5, color="white" if value < 30 else "black")  # fmt: skip
            ax.set_xticks(range(len(rates)), [f"{r // 1000}k" for r in rates])
            ax.set_yticks(range(len(vcpus)), [str(v * 6) for v in vcpus])
            ax.set_xlabel("MSI arrivals per busy vector, per s")
            ax.set_ylabel("idle vCPUs on 40 idle pCPUs")
            kind = "periodic tick" if tick == 1000.0 else "NO_HZ, 100 wake-ups/s"
            ax.set_title(f"{placement} idle vCPUs, {kind}: {metric}", fontsize=8)
    fig.colorbar(image, ax=axes, label="idle guests' steal as top shows it in the guest, %")
    fig.suptitle(
        "xen-8socket-passthrough, Xen 4.4 global tasklet_lock (spinner_share 0.5, 20 us a "
        "wake-up): (a)/(b)/(c) readings that hold\n(a 30-50%: s steal, n top NO_HZ, p top "
        "periodic, w runnable/wanted, g of guest time; b 1.5-6 ms per 30 ms wall, r 5-20% "
        "of RUNNING; c delivered, p99 >= 10x the RFC's)",
        fontsize=9,
    )
    fig.savefig(path, dpi=110)


def region(table: pd.DataFrame) -> None:
    """Print, for each pair of readings, how many points have all three observations and
    the values of the unknowns there."""
    print("\nwhere (a), (b) and (c) hold, by reading:")
    for a in READINGS_A:
        for b in READINGS_B:
            found = table[table[f"all_{a}{b}"]]
            where = "; ".join(
                f"{name} {sorted(found[name].dropna().unique().tolist())}"
                for name in MAP
                if name in found
            )
            print(f"  a={a} b={b}: {len(found)} points" + (f" ({where})" if len(found) else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-ms", type=float, default=40.0)
    parser.add_argument("--quick", action="store_true", help="a 2x2 grid, for a smoke test")
    parser.add_argument("--out", type=Path, default=ROOT)
    parser.add_argument("--plot-only", action="store_true", help="redraw from calibration.csv")
    args = parser.parse_args()
    if args.plot_only:
        table = pd.read_csv(args.out / "calibration.csv")
        plot(
            table.iloc[: len(pd.DataFrame(grid_points(MAP)))],
            args.out / "figures" / "calibration_map.png",
        )
        return
    workers = os.cpu_count() or 1
    with ProcessPoolExecutor(workers) as pool:
        if args.quick:
            table = map_table = judge(run_grid(QUICK, {}, args, pool))
        else:
            table = map_table = judge(run_grid(MAP, {}, args, pool))
            around = []
            for rate in MAP["irq_rate_per_s"]:  # the other unknowns at their defaults
                for factor, values in AROUND.items():
                    grid = {factor: values}
                    around.append(judge(run_grid(grid, {"irq_rate_per_s": rate}, args, pool)))
            table = pd.concat([table, *around], ignore_index=True)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "calibration.csv", index=False, float_format="%.6g")
    if not args.quick:
        (args.out / "figures").mkdir(exist_ok=True)
        plot(map_table, args.out / "figures" / "calibration_map.png")
    cols = [*READINGS_A.values(), *(metric for metric, _, _ in READINGS_B.values())]
    shown = table[[c for c in table.columns if c in (*MAP, *AROUND)] + cols]
    print(shown.to_string(float_format=lambda v: f"{v:.3g}"))
    region(table)
    print(f"points where a, b (of wall) and c hold: {int(table.all_wall.sum())}")
    print(f"points where a, b (of RUNNING) and c hold: {int(table.all_running.sum())}")


if __name__ == "__main__":
    main()
