"""Durations and guests read off traces: hand-worked lines, this project's capture counted
again from its raw lines, and a simulated host whose guests are known."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

import taskletsim as ts
from taskletsim.capture import import_ftrace, import_xentrace
from taskletsim.fit import fit_durations, fit_vcpus

DATA = Path(__file__).parent / "data"


def test_durations_of_the_hand_written_lines() -> None:
    found = fit_durations(import_ftrace(DATA / "ftrace" / "hand-perf-script.txt"))
    assert found["handler"]["irq36:virtio1-req.0"].values.tolist() == [8373]
    assert found["handler"]["local_timer"].values.tolist() == [3000]
    assert found["softirq"]["BLOCK"].values.tolist() == [11527]
    assert found["tasklet"]["tx_done"].values.tolist() == [1000]
    assert found["tasklet"]["work:vmstat_update"].values.tolist() == [4000]


def test_handler_durations_equal_the_raw_pairs_of_the_capture() -> None:
    path = DATA / "ftrace" / "capture-perf-script.txt"
    started: dict[tuple[str, str], int] = {}
    raw: dict[str, list[int]] = defaultdict(list)
    names: dict[str, str] = {}
    for line in path.read_text().splitlines():
        words = line.split()
        at = next(i for i, w in enumerate(words) if w.startswith("[") and w.endswith("]"))
        sec, frac = words[at + 1].rstrip(":").split(".")
        t, event, rest = int(sec) * 10**9 + int(frac), words[at + 2], words[at + 3 :]
        cpu = words[at]
        if event == "irq:irq_handler_entry:":
            irq = rest[0].split("=")[1]
            names[irq] = f"irq{irq}:{rest[1].split('=')[1]}"
            started[(cpu, irq)] = t
        elif event == "irq:irq_handler_exit:":
            irq = rest[0].split("=")[1]
            if (cpu, irq) in started:
                raw[names[irq]].append(t - started.pop((cpu, irq)))
    found = fit_durations(import_ftrace(path))["handler"]
    for name, spans in raw.items():
        assert found[name].values.tolist() == sorted(spans)
    assert found["irq36:virtio1-req.0"].count == 104
    assert 3000 < found["irq36:virtio1-req.0"].quantile(0.5) < 4000


def test_a_simulated_hosts_guests_are_read_back() -> None:
    trace = ts.run("xen-8socket-passthrough", design="rfc-percpu", seed=1, duration_ms=30).trace
    fits = fit_vcpus(trace)
    guests = {g["name"]: g for g in trace.meta.model["guests"]}
    assert len(fits) == 6 * 6 + 6 * 10
    workloads = {name: trace.meta.vcpus[name].workload for name in fits}
    assert {name: f.workload for name, f in fits.items()} == workloads
    for fit in fits.values():
        assert fit.pinned and fit.pcpus[0] in guests[fit.domain]["cpus"]
    idle = [f for name, f in fits.items() if workloads[name] == "idle"]
    assert all(abs(f.ticks_per_s - 1000) < 50 for f in idle)  # tick_hz 1000, 30 ms
    assert np.mean([f.running_share for f in idle]) < 0.2


def test_the_samples_dom0_floats_and_its_guest_is_mostly_idle() -> None:
    fits = fit_vcpus(import_xentrace(DATA / "xentrace" / "sample.xentrace", 2.4e9))
    assert all(len(f.pcpus) > 1 for name, f in fits.items() if name.startswith("d0v"))
    assert fits["d14v2"].workload == "mixed" and 0.26 < fits["d14v2"].running_share < 0.28
    assert fits["d14v0"].workload == "idle"
