"""Durations and guests read off traces: hand-worked lines, this project's capture counted
again from its raw lines, and a simulated host whose guests are known."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

import taskletsim as ts
from taskletsim.capture import import_ftrace, import_xentrace
from taskletsim.core.config import ConfigError
from taskletsim.fit import fit_durations, fit_vcpus
from taskletsim.fit.host import fit_host, parse_topology

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


@pytest.mark.parametrize("design", ["rfc-percpu", "xen-4.4-global"])
def test_a_simulated_hosts_guests_are_read_back(design: str) -> None:
    """Under xen-4.4-global the idle vCPUs spend most of RUNNING spinning on the lock in
    the hypervisor: their class comes from their guest-mode time, not from RUNNING."""
    trace = ts.run("xen-8socket-passthrough", design=design, seed=1, duration_ms=30).trace
    fits = fit_vcpus(trace)
    guests = {g["name"]: g for g in trace.meta.model["guests"]}
    assert len(fits) == 6 * 6 + 6 * 10
    workloads = {name: trace.meta.vcpus[name].workload for name in fits}
    assert {name: f.workload for name, f in fits.items()} == workloads
    for fit in fits.values():
        assert fit.pinned and fit.pcpus[0] in guests[fit.domain]["cpus"]
    idle = [f for name, f in fits.items() if workloads[name] == "idle"]
    assert np.mean([f.guest_share for f in idle]) < 0.2
    if design == "rfc-percpu":
        assert all(abs(f.ticks_per_s - 1000) < 50 for f in idle)  # tick_hz 1000, 30 ms
    else:
        assert max(f.running_share for f in idle) > 0.2  # spinning while RUNNING, still idle


def test_the_samples_dom0_floats_and_its_guest_is_mostly_idle() -> None:
    fits = fit_vcpus(import_xentrace(DATA / "xentrace" / "sample.xentrace", 2.4e9))
    assert all(len(f.pcpus) > 1 for name, f in fits.items() if name.startswith("d0v"))
    assert fits["d14v2"].workload == "mixed" and 0.26 < fits["d14v2"].running_share < 0.28
    assert fits["d14v0"].workload == "idle"


def test_a_host_fitted_to_a_simulation_has_its_guests_and_devices() -> None:
    trace = ts.run("small-2socket", design="rfc-percpu", seed=1, duration_ms=300).trace
    fitted = fit_host(trace)
    assert fitted["host"] == {"sockets": 2, "cores_per_socket": 4, "threads_per_core": 1}
    made = trace.meta.model["guests"]
    assert [(g["name"], g["workload"], g["cpus"]) for g in fitted["guests"]] == [
        (g["name"], g["workload"], g["cpus"]) for g in made
    ]
    for guest in fitted["guests"]:
        assert "floating" not in guest and guest["tick_hz"] == 1000.0
        devices = guest.get("devices", [])
        assert len(devices) == (1 if guest["workload"] == "busy" else 0)
        for device in devices:
            assert device["process"] == "poisson"
            assert abs(device["rate_per_s"] / 20_000 - 1) < 0.03  # ~6,000 arrivals


def test_a_host_fitted_to_the_xentrace_sample() -> None:
    fitted = fit_host(import_xentrace(DATA / "xentrace" / "sample.xentrace", 2.4e9))
    guests = {g["name"]: g for g in fitted["guests"]}
    assert set(guests) == {"d0", "d14"}
    assert len(guests["d0"]["cpus"]) == 8 and guests["d0"]["floating"] == list(range(8))
    assert len(guests["d14"]["cpus"]) == 4
    assert fitted["host"] == {"sockets": 1, "cores_per_socket": 8, "threads_per_core": 1}


def test_what_cannot_be_fitted_is_refused() -> None:
    capture = import_ftrace(DATA / "ftrace" / "hand-perf-script.txt")
    with pytest.raises(ConfigError, match=r"at least 20 interrupts .* of one device"):
        fit_host(capture)  # a bare-metal Linux capture of one interrupt and no scheduler
    with pytest.raises(ConfigError, match="a host of at least 2 CPUs: the trace has CPU 1"):
        fit_host(capture, parse_topology("1x1"))
    sample = import_xentrace(DATA / "xentrace" / "sample.xentrace", 2.4e9)
    with pytest.raises(ConfigError, match="at least 8 CPUs"):
        fit_host(sample, parse_topology("1x4"))
    with pytest.raises(ConfigError, match="SOCKETSxCORES"):
        parse_topology("four")
