"""taskletsim's speed, each figure next to its floor measured in the same process.

Speed is a ratio to plain SimPy (or numpy) measured in the same run, so it
compares across machines. Figures:

1. ``lock-open`` at rho 0.8 with ``transfer_ns=0``, each lock kind:
   acquisitions per wall second vs a callback-only SimPy M/M/1 of the same
   queue;
2. each design on ``xen-8socket-passthrough``: trace events per wall second
   vs plain SimPy timeouts (one process per CPU yielding timeouts), and
   passthrough interrupts (arrivals) per wall second; next to them, the
   model's skeleton: the engine and the shape of the model's generators
   without its logic (how much of the floor the shape alone leaves);
3. peak traced memory per trace event of a long run (``tracemalloc``), what each
   further event adds (the slope between two lengths), and the same runs
   metrics-only (per event simulated, none kept, and per further event);
4. metrics: trace events analysed per second on a 10-million-event trace
   (``taskletsim.measure``: every figure the reports show), vs numpy summing
   those columns;
5. per-event wall cost at 256 vs 16 pCPUs with the same load per pCPU, each
   design (ratio; 1.0 = the cost per event does not grow with the host);
6. a sweep of 8 runs on 1 and 2 worker processes: the speed-up, for runs of one
   size and for runs of uneven sizes (next to the best any order of them allows);
7. ``import_xentrace``: records per second of a real capture's mix (the project's
   xentrace sample, copied end to end with its TSCs moved on; a fifth of its
   records map to events) and of a simulated run written as xentrace (every record
   maps), vs numpy reading the same file (goal: 2M records/s).

The first line says which build ran (plain Python, or how many modules the
optional mypyc build compiled: ``taskletsim.compiled_modules()``).

Not a test; CI runs it with ``--quick`` so that it keeps working.

    python benchmarks/run.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Generator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import simpy
from simpy.events import NORMAL, Event

import taskletsim as ts
from taskletsim.capture import export_xentrace, import_xentrace
from taskletsim.capture.records import Records, record_starts
from taskletsim.core.sim import Simulation
from taskletsim.runner.sweep import sweep

DESIGNS = tuple(ts.scenario_designs(ts.get_scenario("xen-8socket-passthrough")))
SEED_HOST = "xen-8socket-passthrough"
LINUX_SCENARIOS = ("linux-dma", "linux-nic-affinity")
"""The bare-metal Linux host's scenarios, measured in figure 2 beside the Xen host."""


def best_of(repeat: int, fn: Callable[[], float]) -> float:
    """The best (highest) of ``repeat`` measurements: the least disturbed."""
    return max(fn() for _ in range(repeat))


# -- 1. lock-open vs a callback-only M/M/1 ----------------------------------------


def mm1_draws(acquisitions: int, rate_per_s: float, hold_ns: float) -> tuple[list[int], list[int]]:
    """The M/M/1's gaps and holds, drawn before its clock starts."""
    rng = np.random.default_rng(1)
    gaps = np.rint(rng.exponential(1e9 / rate_per_s, acquisitions)).astype(np.int64).tolist()
    holds = np.rint(rng.exponential(hold_ns, acquisitions)).astype(np.int64).tolist()
    return gaps, holds


def simpy_mm1(acquisitions: int, rate_per_s: float, hold_ns: float) -> float:
    """A callback-only SimPy M/M/1: arrivals and departures as bare events."""
    env = simpy.Environment()
    gaps, holds = mm1_draws(acquisitions, rate_per_s, hold_ns)
    queue: list[int] = []
    state = {"busy": False, "next": 0, "done": 0}

    def at(delay: int, callback: Callable[[Event], None]) -> None:
        event = Event(env)
        event._ok = True
        event._value = None
        event.callbacks.append(callback)
        env.schedule(event, NORMAL, delay)

    def depart(_e: Event) -> None:
        state["done"] += 1
        if queue:
            at(holds[queue.pop()], depart)
        else:
            state["busy"] = False

    def arrive(_e: Event) -> None:
        i = state["next"]
        state["next"] = i + 1
        if state["busy"]:
            queue.insert(0, i)
        else:
            state["busy"] = True
            at(holds[i], depart)
        if i + 1 < acquisitions:
            at(gaps[i + 1], arrive)

    at(gaps[0], arrive)
    started = time.perf_counter()
    env.run()
    return state["done"] / (time.perf_counter() - started)


def lock_open_rate(acquisitions: int, lock: str, rate_per_s: float, hold_ns: float) -> float:
    result = ts.run(
        "lock-open",
        seed=1,
        duration_ms=acquisitions / rate_per_s * 1e3,
        params={"lock": lock, "transfer_ns": 0, "rate_per_s": rate_per_s, "hold_ns": hold_ns},
        check=False,
    )
    return ts.lock_stats(result.trace)["lock"].acquisitions / result.wall_s


# -- 2. the hypervisor vs plain SimPy timeouts -------------------------------------


def simpy_timeouts(events: int, processes: int = 80) -> float:
    """SimPy timeouts per wall second: ``processes`` processes sleeping in turn."""
    env = simpy.Environment()

    def cpu() -> Generator[Any, Any, None]:
        for _ in range(events // processes):
            yield env.timeout(1000)

    for _ in range(processes):
        env.process(cpu())
    started = time.perf_counter()
    env.run()
    return events / (time.perf_counter() - started)


def host_rates(design: str, duration_ms: float, params: dict[str, Any]) -> tuple[float, float]:
    """(trace events per wall s, passthrough arrivals per wall s) of one run."""
    result = ts.run(
        SEED_HOST, design=design, seed=1, duration_ms=duration_ms, params=params, check=False
    )
    arrivals = sum(
        c.arrived for c in ts.metrics.irq_counts(result.trace, kinds=("device",)).values()
    )
    return len(result.trace) / result.wall_s, arrivals / result.wall_s


def linux_rate(scenario: str, design: str, duration_ms: float) -> float:
    """Trace events per wall s of one run of a bare-metal Linux scenario."""
    result = ts.run(scenario, design=design, seed=1, duration_ms=duration_ms, check=False)
    return len(result.trace) / result.wall_s


def skeleton_rate(events_per_cpu: int, flat: bool, cpus: int = 32) -> float:
    """Trace events per wall second of the model's skeleton (:func:`build_skeleton`)."""
    sim = Simulation(1)
    build_skeleton(sim, events_per_cpu, flat, cpus)
    started = time.perf_counter()
    sim.run(events_per_cpu * 1000)  # past the last event (a sleep averages 150 ns)
    return len(sim.trace) / (time.perf_counter() - started)


def build_skeleton(sim: Simulation, events_per_cpu: int, flat: bool, cpus: int) -> None:
    """The model's skeleton: taskletsim's engine and the shape of its generators,
    without the model's logic.

    ``cpus`` processes record one row per event (a tracepoint) after 1.33 sleeps through
    ``work()`` on average, creating 2.67 generators, in a ``yield from`` chain up to five
    deep (what
    ``rfc-percpu`` does per trace event: 1.26 sleeps, 2.6 generators, depth 5.1). With
    ``flat`` each process yields the same sleeps itself, one generator per CPU: what
    the engine costs. Both give the same trace.
    """
    trace = sim.trace

    def gap(cpu: int, i: int) -> int:
        return 37 + (i * 7919 + cpu * 104729) % 300

    def work(ns: int) -> Generator[int, None, None]:
        yield ns

    def leaf(cpu: int, i: int) -> Generator[int, None, None]:
        yield from work(gap(cpu, i))
        trace.irq_entry(cpu, 2, 3)
        yield from work(50)

    def mid(cpu: int, i: int) -> Generator[int, None, None]:
        if i % 3 == 0:
            yield from leaf(cpu, i)
        else:
            yield from work(gap(cpu, i))
            trace.irq_entry(cpu, 2, 3)

    def top(cpu: int) -> Generator[int, None, None]:
        for i in range(events_per_cpu):
            yield from mid(cpu, i)

    def main(cpu: int) -> Generator[int, None, None]:
        yield from top(cpu)

    def flat_main(cpu: int) -> Generator[int, None, None]:
        for i in range(events_per_cpu):
            yield gap(cpu, i)
            trace.irq_entry(cpu, 2, 3)
            if i % 3 == 0:
                yield 50

    for cpu in range(cpus):
        sim.process(flat_main(cpu) if flat else main(cpu))


# -- 3. memory per event -----------------------------------------------------------


def bytes_per_event(duration_ms: float) -> tuple[float, int]:
    """Peak traced bytes over the events of the run. Returns (bytes per event, events)."""
    peak, events = peak_bytes(duration_ms)
    return peak / events, events


def marginal_bytes_per_event(short_ms: float, long_ms: float) -> float:
    """What each further event costs at the peak: the slope of peak bytes between a run
    of ``short_ms`` and one of ``long_ms`` (the host's own state, a few MB whatever the
    run's length, cancels out)."""
    (a, n), (b, m) = peak_bytes(short_ms), peak_bytes(long_ms)
    return (b - a) / (m - n)


def peak_bytes(duration_ms: float, metrics_only: bool = False) -> tuple[int, int]:
    """(peak traced bytes of the run, its events)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    result = ts.run(
        SEED_HOST,
        design="rfc-percpu",
        seed=1,
        duration_ms=duration_ms,
        check=False,
        metrics_only=metrics_only,
    )
    events = result.measured().events if metrics_only else len(result.trace)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, events


# -- 4. metrics throughput -----------------------------------------------------------


def big_trace(target: int) -> ts.Trace:
    """A real trace of at least ``target`` events (one run, long enough)."""
    probe = ts.run(SEED_HOST, design="rfc-percpu", seed=1, duration_ms=5, check=False)
    duration_ms = 5 * target / len(probe.trace) * 1.05
    return ts.run(
        SEED_HOST, design="rfc-percpu", seed=1, duration_ms=duration_ms, check=False
    ).trace


def metrics_rate(trace: ts.Trace, repeat: int = 3) -> tuple[float, float, float]:
    """Events/s through the metrics: the first time in the process (cold: the memory for
    the index and the temporaries is mapped afresh) and the best of ``repeat`` more
    (warm: the allocator reuses it, as when a process measures run after run), each on
    a fresh copy of the trace's record (nothing cached, the columns shared); and
    events/s numpy sums every column."""

    def ours() -> float:
        fresh = ts.Trace(columns=trace.columns, names=trace.names, meta=trace.meta)
        started = time.perf_counter()
        ts.measure(fresh)  # every figure the reports show
        return len(trace) / (time.perf_counter() - started)

    def floor() -> float:
        started = time.perf_counter()
        for column in trace.columns.values():
            column.sum()
        return len(trace) / (time.perf_counter() - started)

    cold = ours()
    return cold, best_of(repeat, ours), best_of(repeat, floor)


# -- 5. scaling with the host ---------------------------------------------------------


def per_event_ns(design: str, sockets: int, duration_ms: float) -> float:
    """Wall ns per trace event on a host of ``sockets`` x 8 cores, half of them busy, 300
    MSIs/s per busy vCPU: the marginal cost between a run of ``duration_ms`` and one five
    times longer (so that building the host does not count), median of three. At 256 pCPUs
    the global designs' lock is saturated (every CPU that touches it spins): their cost
    per event then shows what the spinners cost the simulator."""
    params = {
        "sockets": sockets,
        "cores_per_socket": 8,
        "busy_sockets": sockets // 2,
        "busy_guests": sockets // 2,
        "busy_vcpus": 8,
        "idle_guests": sockets // 2,
        "idle_vcpus": 8,
        "irq_rate_per_s": 300,
        "transfer_costs": "perfbook-2017",
    }

    def once() -> float:
        short, long = (
            ts.run(SEED_HOST, design=design, seed=1, duration_ms=d, params=params, check=False)
            for d in (duration_ms, 5 * duration_ms)
        )
        return (long.wall_s - short.wall_s) * 1e9 / (len(long.trace) - len(short.trace))

    return float(np.median([once() for _ in range(3)]))


# -- 6. a sweep on 1 and 2 workers ------------------------------------------------------


UNEVEN_GRID = {"irq_rate_per_s": [2000, 5000, 10000, 20000]}
"""8 runs with the two designs, of very different lengths (the longest ~1/3 of the total)."""
EVEN_GRID = {"irq_rate_per_s": [20000]}
"""With 4 seeds, 8 runs with the two designs of about the same length."""


def sweep_seconds(
    workers: int, duration_ms: float, grid: dict[str, list[Any]], seeds: int
) -> float:
    designs = ["rfc-percpu", "xen-4.4-global"]
    started = time.perf_counter()
    if workers == 1:
        sweep(SEED_HOST, grid, designs, seeds, duration_ms=duration_ms)
    else:
        with ProcessPoolExecutor(workers) as pool:
            sweep(SEED_HOST, grid, designs, seeds, duration_ms=duration_ms, executor=pool)
    return time.perf_counter() - started


def best_two_worker_speedup(duration_ms: float) -> float:
    """The best speed-up any order of :data:`UNEVEN_GRID`'s runs can have on 2 workers:
    their total over the best split of them in two (each run checked and measured, as a
    sweep does, one after the other here)."""
    walls = []
    for rate in UNEVEN_GRID["irq_rate_per_s"]:
        for design in ("rfc-percpu", "xen-4.4-global"):
            started = time.perf_counter()
            result = ts.run(
                SEED_HOST,
                design=design,
                seed=1,
                duration_ms=duration_ms,
                params={"irq_rate_per_s": rate},
            )
            result.measured()
            walls.append(time.perf_counter() - started)
    total = sum(walls)
    best = min(
        max(part, total - part)
        for mask in range(2 ** len(walls))
        for part in [sum(w for i, w in enumerate(walls) if mask >> i & 1)]
    )
    return total / best


SAMPLE = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "xentrace")
SAMPLE = os.path.join(SAMPLE, "sample.xentrace")


def sample_copies(path: str, copies: int) -> int:
    """Write the xentrace sample ``copies`` times end to end, each copy's TSCs after the
    last's; the records written."""
    words = np.fromfile(SAMPLE, dtype="<u4")
    starts, _ = record_starts(words)
    timed = starts[Records.read(words, starts, 0).has_tsc]
    tsc = words[timed + 1].astype(np.uint64) | (words[timed + 2].astype(np.uint64) << 32)
    step = int(tsc.max() - tsc.min()) + 1
    with open(path, "wb") as f:
        for k in range(copies):
            moved = tsc + np.uint64(k * step)
            words[timed + 1] = moved & 0xFFFFFFFF
            words[timed + 2] = moved >> np.uint64(32)
            f.write(words.tobytes())
    return copies * len(starts)


def import_rate(path: str, records: int, cpu_hz: float, repeat: int) -> tuple[float, float]:
    """Records imported per second, and numpy's rate reading the file (``fromfile``, sum)."""

    def ours() -> float:
        start = time.perf_counter()
        import_xentrace(path, cpu_hz)
        return records / (time.perf_counter() - start)

    def floor() -> float:
        start = time.perf_counter()
        int(np.fromfile(path, dtype="<u4").sum())
        return records / (time.perf_counter() - start)

    return best_of(repeat, ours), best_of(repeat, floor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    q = args.quick
    compiled = ts.compiled_modules()
    out: dict[str, Any] = {"quick": q, "cpus": os.cpu_count(), "compiled_modules": compiled}
    lines: list[str] = [
        f"build: {len(compiled)} modules compiled (mypyc)" if compiled else "build: plain Python"
    ]

    acq = 20_000 if q else 400_000
    floor = best_of(1 if q else 3, lambda: simpy_mm1(acq, 800_000, 1000))
    out["lock_open"] = {"floor_acq_per_s": floor}
    lines.append(f"1. callback-only SimPy M/M/1: {floor:,.0f} acquisitions/s")
    for lock in ("ttas", "ticket", "mcs"):
        ours = best_of(1 if q else 3, lambda lock=lock: lock_open_rate(acq, lock, 800_000, 1000))
        out["lock_open"][lock] = {"acq_per_s": ours, "ratio": ours / floor}
        lines.append(
            f"   lock-open {lock:<6} {ours:12,.0f} acquisitions/s   ratio {ours / floor:.2f}"
        )

    dur = 2.0 if q else 30.0
    floor = best_of(1 if q else 3, lambda: simpy_timeouts(40_000 if q else 1_000_000))
    out["host"] = {"floor_events_per_s": floor}
    lines.append(f"2. plain SimPy timeouts: {floor:,.0f} events/s")
    for design in DESIGNS:
        events, irqs = host_rates(design, dur, {})
        out["host"][design] = {"events_per_s": events, "ratio": events / floor, "irqs_per_s": irqs}
        lines.append(
            f"   {SEED_HOST} {design:<15} {events:12,.0f} events/s   ratio {events / floor:.2f}"
            f"   {irqs:10,.0f} passthrough arrivals/s"
        )
    out["linux_host"] = {}
    for scenario in LINUX_SCENARIOS:
        for design in ts.scenario_designs(ts.get_scenario(scenario)):
            events = linux_rate(scenario, design, 2.0 if q else 100.0)
            out["linux_host"][f"{scenario}/{design}"] = {
                "events_per_s": events,
                "ratio": events / floor,
            }
            lines.append(
                f"   {scenario} {design:<15} {events:12,.0f} events/s   ratio {events / floor:.2f}"
            )
    per_cpu = 1_000 if q else 20_000
    chain = best_of(1 if q else 3, lambda: skeleton_rate(per_cpu, False))
    flat = best_of(1 if q else 3, lambda: skeleton_rate(per_cpu, True))
    out["skeleton"] = {
        "events_per_s": chain,
        "ratio": chain / floor,
        "flat_events_per_s": flat,
        "flat_ratio": flat / floor,
    }
    lines.append(
        f"   the model's skeleton (engine and generators, no model logic) {chain:12,.0f}"
        f" events/s   ratio {chain / floor:.2f}; one generator per CPU: ratio {flat / floor:.2f}"
    )

    per_event, events = bytes_per_event(5.0 if q else 100.0)
    out["bytes_per_event"] = per_event
    lines.append(
        f"3. peak traced memory: {per_event:.1f} bytes per trace event ({events:,} events)"
    )
    slope = marginal_bytes_per_event(*((2.0, 5.0) if q else (25.0, 100.0)))
    out["marginal_bytes_per_event"] = slope
    lines.append(f"   each further event: {slope:.1f} bytes (the host's own state left out)")
    short_ms, long_ms = (2.0, 5.0) if q else (25.0, 100.0)
    (a, n), (b, m) = peak_bytes(short_ms, True), peak_bytes(long_ms, True)
    out["bytes_per_event_metrics_only"] = lean = b / m
    out["marginal_bytes_per_event_metrics_only"] = lean_slope = (b - a) / (m - n)
    lines.append(
        f"   metrics-only run: {lean:.1f} bytes per event simulated,"
        f" {lean_slope:.2f} per further event"
    )

    trace = big_trace(200_000 if q else 10_000_000)
    ours, warm, floor = metrics_rate(trace, 1 if q else 3)
    out["metrics"] = {
        "events_per_s": ours,
        "warm_events_per_s": warm,
        "numpy_sum_per_s": floor,
        "events": len(trace),
    }
    lines.append(
        f"4. metrics: {ours:,.0f} trace events/s on {len(trace):,} events, {warm:,.0f}/s"
        f" measured again   (numpy sums its columns at {floor:,.0f}/s)"
    )

    small, large = (2, 4) if q else (2, 32)
    dur = 5.0 if q else 200.0
    out["scaling"] = {"cpus": [small * 8, large * 8]}
    for design in DESIGNS:
        a = per_event_ns(design, small, dur)
        b = per_event_ns(design, large, dur)
        out["scaling"][design] = {"ns_per_event": [a, b], "ratio": b / a}
        lines.append(
            f"5. {design:<15} {a:6.0f} ns/event at {small * 8} pCPUs, {b:6.0f} at {large * 8}:"
            f" ratio {b / a:.2f}"
        )

    dur = 2.0 if q else 40.0
    one, two = sweep_seconds(1, dur, EVEN_GRID, 4), sweep_seconds(2, dur, EVEN_GRID, 4)
    out["sweep"] = {"seconds": [one, two], "speedup": one / two}
    lines.append(
        f"6. sweep of 8 runs of one size: {one:.1f} s on 1 worker, {two:.1f} s on 2:"
        f" x{one / two:.2f}"
    )
    one, two = sweep_seconds(1, dur, UNEVEN_GRID, 1), sweep_seconds(2, dur, UNEVEN_GRID, 1)
    bound = best_two_worker_speedup(dur)
    out["sweep_uneven"] = {"seconds": [one, two], "speedup": one / two, "bound": bound}
    lines.append(
        f"   8 runs of uneven sizes: {one:.1f} s on 1 worker, {two:.1f} s on 2: x{one / two:.2f}"
        f" (the best split of these runs in two: x{bound:.2f})"
    )

    out["xentrace_import"] = {}
    with tempfile.TemporaryDirectory() as tmp:
        mix = os.path.join(tmp, "sample.xentrace")
        n_mix = sample_copies(mix, 2 if q else 40)
        ours, floor = import_rate(mix, n_mix, 2.4e9, 1 if q else 3)
        figure = {"records": n_mix, "records_per_s": ours, "numpy_per_s": floor}
        out["xentrace_import"]["sample_mix"] = {**figure, "ratio": ours / floor}
        lines.append(
            f"7. import xentrace, the sample's mix: {ours:,.0f} records/s on {n_mix:,} records"
            f"   (numpy reads the file at {floor:,.0f}/s: ratio {ours / floor:.3f})"
        )
        run = ts.run(SEED_HOST, design="xen-4.4-global", seed=1, duration_ms=5 if q else 400)
        simulated = os.path.join(tmp, "run.xentrace")
        n_sim = sum(export_xentrace(run.trace, simulated, 2.4e9).records.values())
        ours, floor = import_rate(simulated, n_sim, 2.4e9, 1 if q else 3)
        figure = {"records": n_sim, "records_per_s": ours, "numpy_per_s": floor}
        out["xentrace_import"]["simulated"] = {**figure, "ratio": ours / floor}
        lines.append(
            f"   a simulated run written as xentrace: {ours:,.0f} records/s on {n_sim:,}"
            f" records   (numpy: {floor:,.0f}/s, ratio {ours / floor:.3f})"
        )
    print(json.dumps(out, indent=2) if args.json else "\n".join(lines))


if __name__ == "__main__":
    main()
