"""A Xen host fitted to a trace: the ``[host]`` and ``[[guests]]`` of a host file.

From the runstates (:func:`~taskletsim.fit.guests.fit_vcpus`): one guest per
domain, its vCPUs in order, each starting on the pCPU it ran on most, floating
over every pCPU its vCPUs ran on when any ran on more than one; its workload
class (the class most of its vCPUs have); for a ``mixed`` guest its mean
running and blocked intervals; its tick rate (its timer's period where the tick's
arrivals fit a periodic grid, however many grid points a late guest skipped; else
the rate it was injected at).
From the injections and :func:`~taskletsim.fit.arrivals.fit_sources`: each
device source, on the vCPU it
was injected into most, with the arrival process fitted to it (a simulation's
arrivals; a capture's injections, for the vectors a vector map calls devices).
What no trace shows (the host's step costs, the device's back-pressure) is not
here: :func:`fit_host` returns the fitted part, and ``taskletsim fit`` adds a
simulation's own parameters to it.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import numpy as np

from ..core.config import ConfigError
from ..core.events import EventKind
from ..core.trace import Trace
from ..metrics.common import is_linux_host
from ..metrics.runstates import vcpu_times
from .arrivals import (
    MIN_ARRIVALS,
    fit_arrivals,
    kernel_hz,
    process_table,
    source_arrivals,
    tick_grid_ns,
)
from .guests import fit_vcpus
from .linux import fit_linux_host


def parse_topology(text: str) -> tuple[int, int, int]:
    """``SOCKETSxCORESxTHREADS`` (threads optional): ``8x10`` or ``2x4x2``."""
    parts = text.lower().split("x")
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        sizes = []
    if len(sizes) not in (2, 3) or min(sizes) < 1:
        raise ConfigError("topology", text, "SOCKETSxCORES[xTHREADS], each >= 1: 8x10 or 2x4x2")
    return sizes[0], sizes[1], sizes[2] if len(sizes) == 3 else 1


def _topology(trace: Trace, given: tuple[int, int, int] | None) -> tuple[int, int, int]:
    """The given topology, else the trace's own, else one socket of its CPUs; refused when
    the trace has a CPU it lacks."""
    topo = trace.meta.topology
    if given is not None:
        sizes = given
    elif {"sockets", "cores_per_socket"} <= set(topo):
        sizes = (topo["sockets"], topo["cores_per_socket"], topo.get("threads_per_core", 1))
    else:
        sizes = (1, max(int(topo.get("cpus", 1)), 1), 1)
    cpus = sizes[0] * sizes[1] * sizes[2]
    highest = int(trace.cpu.max()) if len(trace) else 0
    if highest >= cpus:
        raise ConfigError(
            "topology",
            "x".join(map(str, sizes)),
            f"a host of at least {highest + 1} CPUs: the trace has CPU {highest}",
        )
    return sizes


def _index(name: str) -> int:
    found = re.search(r"v(\d+)$", name)
    return int(found[1]) if found else 0


def fit_host(trace: Trace, topology: tuple[int, int, int] | None = None) -> dict[str, Any]:
    """The fitted ``[host]``, ``[[guests]]`` (with their ``[[guests.devices]]``) and a
    ``fit`` report (each device's arrival fit), as a host file's tables; for a bare-metal
    Linux host's trace, a Linux host's (:func:`taskletsim.fit.linux.fit_linux_host`)."""
    if is_linux_host(trace.meta):
        return fit_linux_host(trace, _topology(trace, topology))
    sockets, cores, threads = _topology(trace, topology)
    vcpus = fit_vcpus(trace)
    if not vcpus:
        raise ConfigError("trace", "no guest vCPU", "a Xen trace with guests' runstates")
    times = vcpu_times(trace)
    by_domain: dict[str, list[str]] = {}
    for name, fit in vcpus.items():
        by_domain.setdefault(fit.domain, []).append(name)
    targets = _injected_into(trace)
    arrivals = source_arrivals(trace)  # a simulation's; a capture's handler entries
    injected = _injection_times(trace)  # a capture's vectors: their deliveries
    tick_sources = _tick_sources(trace)
    guests: list[dict[str, Any]] = []
    report: dict[str, Any] = {}
    for domain, names in by_domain.items():
        names.sort(key=_index)
        fits = [vcpus[n] for n in names]
        guest: dict[str, Any] = {
            "name": re.sub(r"[^\w.-]", "_", domain),
            "workload": _majority([f.workload for f in fits]),
            "cpus": [_main_pcpu(trace, n) for n in names],
        }
        ran_on = sorted({c for f in fits for c in f.pcpus})
        if any(len(f.pcpus) > 1 for f in fits):
            guest["floating"] = ran_on
        if guest["workload"] == "mixed":
            run = [times[n].intervals["running"] for n in names]
            block = [times[n].intervals["blocked"] for n in names]
            guest["run_us"] = _mean_us(run)
            guest["block_us"] = _mean_us(block)
        ticks = [_tick_hz(tick_sources.get(n), arrivals, fits[k]) for k, n in enumerate(names)]
        ticks = [t for t in ticks if t > 0]
        if ticks:
            guest["tick_hz"] = float(np.median(ticks))
        devices = []
        for source, vcpu in targets.items():
            when = arrivals.get(source, injected.get(source))
            if vcpu not in names or when is None or len(when) < MIN_ARRIVALS:
                continue
            fitted = fit_arrivals(when)
            report[source] = fitted.as_dict()
            devices.append({"vcpu": names.index(vcpu), **process_table(fitted)})
        if devices:
            guest["devices"] = devices
        guests.append(guest)
    return {
        "host": {"sockets": sockets, "cores_per_socket": cores, "threads_per_core": threads},
        "guests": guests,
        "fit": report,
    }


def _majority(classes: list[str]) -> str:
    counts = Counter(classes).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        return "mixed"
    return counts[0][0]


def _mean_us(summaries: list[Any]) -> float:
    count = sum(s.count for s in summaries)
    total = sum(s.total_ns for s in summaries)
    return round(total / count / 1000, 3) if count else 1000.0


def _main_pcpu(trace: Trace, vcpu: str) -> int:
    """The pCPU ``vcpu`` was switched to RUNNING on most often."""
    vid = trace.names.ident("vcpu", vcpu)
    rows = trace.rows(EventKind.RUNSTATE_CHANGE)
    rows = rows[(trace.subject[rows] == vid) & (trace.arg[rows] == 0)]
    if not len(rows):
        return 0
    return int(np.bincount(trace.cpu[rows]).argmax())


def _injected_into(trace: Trace) -> dict[str, str]:
    """Each device source (kind ``device``) and the vCPU it was injected into most."""
    rows = trace.rows(EventKind.VIRQ_INJECT)
    vcpus = trace.names.names("vcpu")
    pairs = Counter(zip(trace.subject[rows].tolist(), trace.arg[rows].tolist(), strict=True))
    best: dict[int, tuple[int, int]] = {}
    for (source, vcpu), n in pairs.items():
        if source not in best or n > best[source][1]:
            best[source] = (vcpu, n)
    info = trace.meta.irq
    return {
        info[s].name: vcpus[v]
        for s, (v, _n) in sorted(best.items())
        if s < len(info) and info[s].kind == "device"
    }


def _tick_sources(trace: Trace) -> dict[str, str]:
    """Each vCPU's tick source (a ``VCPU:timer`` of kind timer injected into it)."""
    rows = trace.rows(EventKind.VIRQ_INJECT)
    info, vcpus = trace.meta.irq, trace.names.names("vcpu")
    found: dict[str, str] = {}
    for s, v in set(zip(trace.subject[rows].tolist(), trace.arg[rows].tolist(), strict=True)):
        if s < len(info) and info[s].kind == "timer" and info[s].name.endswith(":timer"):
            found.setdefault(vcpus[v], info[s].name)
    return found


def _tick_hz(source: str | None, arrivals: dict[str, np.ndarray], vcpu: Any) -> float:
    """A vCPU's tick rate: its timer's period when its arrivals fit a periodic grid (a tick
    handled late skips grid points: the rate the guest asked for, not the rate it got),
    else the grid most of its gaps are whole multiples of (:func:`tick_grid_ns`: on a
    saturated host, ticks handled late skip more grid points than the periodic fit
    takes, and a few are re-armed off the grid), else the ticks it was injected per
    second (the rate it got)."""
    times = arrivals.get(source) if source else None
    if times is not None and len(times) >= MIN_ARRIVALS:
        fitted = fit_arrivals(times)
        if fitted.chosen.family == "periodic":
            return kernel_hz(1e9 / fitted.chosen.params["period_ns"])
        grid = tick_grid_ns(times)
        if grid is not None:
            return kernel_hz(1e9 / grid)
    return float(vcpu.ticks_per_s)


def _injection_times(trace: Trace) -> dict[str, np.ndarray]:
    """Each source's injection times (a capture has no arrival of a vector's device)."""
    rows = trace.rows(EventKind.VIRQ_INJECT)
    names = [i.name for i in trace.meta.irq]
    subject = trace.subject[rows]
    return {
        names[s]: trace.time_ns[rows[subject == s]]
        for s in np.unique(subject).tolist()
        if s < len(names)
    }
