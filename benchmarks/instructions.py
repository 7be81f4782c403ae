"""Figures 1 and 2 of ``run.py`` (and the model's skeleton) counted in instructions.

On a shared or virtual machine the wall-clock figures move by tens of percent
from one run to the next (the floor with them, not always in step). The
number of instructions a run executes does not: counted by Valgrind's
cachegrind (``--cache-sim=no``, with hash randomisation, address-space
randomisation and BLAS threads turned off) it repeats to a few parts in a
million, so a change to the model can be weighed by what it adds or saves per
event, one run each.

Each figure is the instructions per unit (an acquisition, a trace event, a
SimPy timeout) between a short and a longer run of the same workload, which
leaves out the imports and the set-up, and the ratio of the floor's count to
ours: like ``run.py``'s ratios, higher is better, 1.0 = as cheap as the
floor. The M/M/1 draws its numbers before ``run.py`` starts its clock: that
count (~3%) is taken out. Instructions are not time: our runs execute fewer
instructions per cycle than the floors (a bigger working set: the trace, the
host's state), so the wall ratios are lower than these.

Needs ``valgrind`` (Debian: ``apt-get install valgrind``).

    python benchmarks/instructions.py [--quick] [--json] [--design NAME ...] [--lock KIND ...]
    python benchmarks/instructions.py --check benchmarks/instructions_baseline.json
    python benchmarks/instructions.py --save-baseline benchmarks/instructions_baseline.json

``--check`` counts every design's instructions per trace event and every lock
kind's per acquisition (the quick sizes; the figures run two at a time) and
fails, exit status 1, if any is more than :data:`TOLERANCE` above the stored
baseline: what CI runs, so that the per-event cost does not creep up.
``--save-baseline`` writes the current counts as the baseline (after a
change whose cost the commit and its note state).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOLERANCE = 0.05
"""How far a count may rise above the baseline before ``--check`` fails."""
QUICK = {"host": ("1", "2"), "lock": ("2", "5")}
"""The quick sizes: simulated ms of the short and the long run of each figure."""
SEED_HOST = "xen-8socket-passthrough"
RATE_PER_MS = 800  # figure 1's arrival rate: 800,000 per second
_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def parse_refs(report: str) -> int:
    """The instruction count (``I refs``) in cachegrind's summary."""
    found = _REFS.search(report)
    if found is None:
        raise ValueError("no 'I refs' line in cachegrind's output")
    return int(found.group(1).replace(",", ""))


def per_unit(short: tuple[int, int], long: tuple[int, int]) -> float:
    """Instructions per unit between two runs, each ``(instructions, units)``."""
    (a, n), (b, m) = short, long
    if m <= n:
        raise ValueError(f"the longer run has no more units ({m}) than the shorter ({n})")
    return (b - a) / (m - n)


def count(workload: list[str]) -> tuple[int, int]:
    """(instructions, units) of one workload run in a child under cachegrind."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    command = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        *workload,
    ]
    if shutil.which("setarch"):
        command = ["setarch", os.uname().machine, "-R", *command]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"{' '.join(workload)} failed under cachegrind:\n{done.stderr[-2000:]}")
    return parse_refs(done.stderr), int(done.stdout.split()[-1])


def figure(workload: list[str], short: str, long: str) -> float:
    return per_unit(count([*workload, short]), count([*workload, long]))


def child(workload: list[str]) -> None:
    """Run one workload (in the process cachegrind counts); print its units."""
    sys.path.insert(0, str(HERE))
    import run as bench  # the same workloads as run.py, in its own terms

    import taskletsim as ts

    kind, name, size = workload
    if kind in ("mm1", "mm1-draws"):
        acquisitions = int(float(size) * RATE_PER_MS)
        run = bench.simpy_mm1 if kind == "mm1" else bench.mm1_draws
        run(acquisitions, RATE_PER_MS * 1000.0, 1000)
        print(acquisitions)
    elif kind == "timeouts":
        events = int(size)
        bench.simpy_timeouts(events)
        print(events // 80 * 80)
    elif kind == "lock":
        result = ts.run(
            "lock-open",
            seed=1,
            duration_ms=float(size),
            params={"lock": name, "transfer_ns": 0, "rate_per_s": RATE_PER_MS * 1000.0},
            check=False,
        )
        print(ts.lock_stats(result.trace)["lock"].acquisitions)
    elif kind == "skeleton":
        per_cpu = int(size)
        bench.skeleton_rate(per_cpu, flat=name == "flat", cpus=32)
        print(32 * per_cpu)
    else:
        result = ts.run(SEED_HOST, design=name, seed=1, duration_ms=float(size), check=False)
        print(len(result.trace))


def current(designs: list[str], locks: list[str]) -> dict[str, dict[str, float]]:
    """Per trace event of every design, per acquisition of every lock kind, at the quick
    sizes, counted two figures at a time."""
    jobs = [("per_event", d, ["host", d, *QUICK["host"]]) for d in designs]
    jobs += [("per_acquisition", k, ["lock", k, *QUICK["lock"]]) for k in locks]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        counted = pool.map(lambda job: figure(job[2][:2], *job[2][2:]), jobs)
        out: dict[str, dict[str, float]] = {"per_event": {}, "per_acquisition": {}}
        for (unit, name, _), value in zip(jobs, counted, strict=True):
            out[unit][name] = value
    return out


def check(baseline_path: Path, designs: list[str], locks: list[str]) -> int:
    """Compare with the stored baseline; 1 if a count rose more than :data:`TOLERANCE`."""
    baseline = json.loads(baseline_path.read_text())
    now = current(designs, locks)
    failed = []
    print(f"instructions against {baseline_path.name} (fails above +{TOLERANCE:.0%}):")
    if baseline.get("python") != platform.python_version():
        print(f"  (the baseline was counted on Python {baseline.get('python')}, this is "
              f"{platform.python_version()}: the counts compare only roughly)")  # fmt: skip
    for unit, values in now.items():
        for name, value in values.items():
            base = baseline[unit].get(name)
            if base is None:
                print(f"  {unit} {name:<16} {value:10,.0f}   (not in the baseline)")
                continue
            change = value / base - 1
            mark = "  <- above the tolerance" if change > TOLERANCE else ""
            print(
                f"  {unit} {name:<16} {value:10,.0f}  baseline {base:10,.0f}  {change:+.1%}{mark}"
            )
            if change > TOLERANCE:
                failed.append(name)
    if failed:
        print(f"instructions per event rose more than {TOLERANCE:.0%}: {', '.join(failed)}")
        return 1
    return 0


def save_baseline(path: Path, designs: list[str], locks: list[str]) -> None:
    doc = {"python": platform.python_version(), "sizes": QUICK, **current(designs, locks)}
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--design", action="append", help="only these designs (figure 2)")
    parser.add_argument("--lock", action="append", help="only these lock kinds (figure 1)")
    parser.add_argument("--check", metavar="BASELINE", help="fail on a rise above the baseline")
    parser.add_argument("--save-baseline", metavar="PATH", help="write the counts as a baseline")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    if shutil.which("valgrind") is None:
        sys.exit("instructions.py needs valgrind (Debian: apt-get install valgrind)")
    import taskletsim as ts

    designs = args.design or ts.scenario_designs(ts.get_scenario("small-2socket"))
    locks = args.lock or ["ttas", "ticket", "mcs"]
    if args.check:
        sys.exit(check(Path(args.check), designs, locks))
    if args.save_baseline:
        save_baseline(Path(args.save_baseline), designs, locks)
        return

    q = args.quick
    out: dict[str, object] = {"quick": q, "compiled_modules": ts.compiled_modules()}
    lines = []
    short, long = ("2", "5") if q else ("10", "30")
    floor = figure(["mm1", "-"], short, long) - figure(["mm1-draws", "-"], short, long)
    out["lock_open"] = lock_open = {"floor_per_acquisition": floor}
    lines.append(f"1. callback-only SimPy M/M/1: {floor:,.0f} instructions per acquisition")
    for lock in locks:
        ours = figure(["lock", lock], short, long)
        lock_open[lock] = {"per_acquisition": ours, "ratio": floor / ours}
        lines.append(f"   lock-open {lock:<6} {ours:10,.0f}   ratio {floor / ours:.2f}")
    small, large = ("20000", "60000") if q else ("40000", "200000")
    floor = figure(["timeouts", "-"], small, large)
    out["host"] = host = {"floor_per_event": floor}
    lines.append(f"2. plain SimPy timeouts: {floor:,.0f} instructions per event")
    short, long = ("1", "2") if q else ("2", "6")
    for design in designs:
        ours = figure(["host", design], short, long)
        host[design] = {"per_event": ours, "ratio": floor / ours}
        lines.append(f"   {SEED_HOST} {design:<15} {ours:10,.0f}   ratio {floor / ours:.2f}")
    small, large = ("500", "1500") if q else ("2000", "6000")
    for shape in ("chain", "flat"):
        ours = figure(["skeleton", shape], small, large)
        out["skeleton" if shape == "chain" else "skeleton_flat"] = {
            "per_event": ours,
            "ratio": floor / ours,
        }
        label = "the model's skeleton" if shape == "chain" else "one generator per CPU"
        lines.append(f"   {label:<39} {ours:10,.0f}   ratio {floor / ours:.2f}")
    print(json.dumps(out, indent=2) if args.json else "\n".join(lines))


if __name__ == "__main__":
    main()
