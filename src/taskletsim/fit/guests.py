"""What a Xen trace's runstates say about its guests: each vCPU's domain, the pCPUs it
ran on (one: pinned), how much it ran and how often it woke, and its tick rate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.events import EventKind
from ..core.trace import Trace
from ..metrics.common import needs
from ..metrics.runstates import vcpu_times

RUNNING, RUNNABLE, BLOCKED = 0, 1, 2
IDLE_GUEST_SHARE = 0.2
"""A vCPU that blocks and runs its own code (guest mode) less than this share of the time
is taken for idle: RUNNING also counts the hypervisor's work on its behalf, which a
vCPU waiting for a lock on its way in may spend most of its time in."""


@dataclass(frozen=True)
class VcpuFit:
    """One vCPU as its runstates show it."""

    domain: str
    pcpus: tuple[int, ...]
    running_share: float
    guest_share: float
    wakes_per_s: float
    ticks_per_s: float
    workload: str

    @property
    def pinned(self) -> bool:
        return len(self.pcpus) == 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "pcpus": list(self.pcpus),
            "pinned": self.pinned,
            "running_share": self.running_share,
            "guest_share": self.guest_share,
            "wakes_per_s": self.wakes_per_s,
            "ticks_per_s": self.ticks_per_s,
            "workload": self.workload,
        }


def fit_vcpus(trace: Trace) -> dict[str, VcpuFit]:
    """Every guest vCPU with runstates: ``pcpus`` those it was switched to RUNNING on;
    ``wakes_per_s`` its BLOCKED -> RUNNABLE changes; ``ticks_per_s`` the injections of
    its tick source (a source named ``VCPU:timer``, when the trace names one);
    ``workload``: ``busy`` if it never blocked, ``idle`` if it blocked and was in guest
    mode less than :data:`IDLE_GUEST_SHARE` of the time, else ``mixed``."""
    needs(trace, "fit_vcpus", EventKind.RUNSTATE_CHANGE)
    times = vcpu_times(trace)
    names = trace.names.names("vcpu")
    rows = trace.rows(EventKind.RUNSTATE_CHANGE)
    vid, state, cpu = trace.subject[rows], trace.arg[rows], trace.cpu[rows]
    order = np.argsort(vid, kind="stable")
    vid, state, cpu = vid[order], state[order], cpu[order]
    same = np.r_[False, vid[1:] == vid[:-1]]
    woke = same & (state == RUNNABLE) & np.r_[False, state[:-1] == BLOCKED]
    ticks = _ticks_by_vcpu(trace)
    span_s = max(next(iter(times.values())).window_ns, 1) / 1e9 if times else 1.0
    owners = trace.meta.vcpus
    out: dict[str, VcpuFit] = {}
    for v, name in enumerate(names):
        if name not in times:
            continue
        mine = vid == v
        ran_on = tuple(sorted(set(cpu[mine & (state == RUNNING)].tolist())))
        vt = times[name]
        total = vt.running_ns + vt.runnable_ns + vt.blocked_ns + vt.offline_ns
        share = vt.running_ns / total if total else 0.0
        guest = vt.guest_ns / total if total else 0.0
        if vt.blocked_ns == 0:
            workload = "busy"
        elif guest < IDLE_GUEST_SHARE:
            workload = "idle"
        else:
            workload = "mixed"
        owner = owners.get(name)
        out[name] = VcpuFit(
            domain=owner.domain if owner else name,
            pcpus=ran_on,
            running_share=share,
            guest_share=guest,
            wakes_per_s=int(woke[mine].sum()) / span_s,
            ticks_per_s=ticks.get(v, 0) / span_s,
            workload=workload,
        )
    return out


def _ticks_by_vcpu(trace: Trace) -> dict[int, int]:
    """Injections of each vCPU's tick source (``VCPU:timer`` of kind timer), by vCPU."""
    tick = [i for i, info in enumerate(trace.meta.irq)
            if info.kind == "timer" and info.name.endswith(":timer")]  # fmt: skip
    rows = trace.rows(EventKind.VIRQ_INJECT)
    rows = rows[np.isin(trace.subject[rows], tick)]
    counts = np.bincount(trace.arg[rows].astype(np.int64)) if len(rows) else np.zeros(0)
    return {v: int(n) for v, n in enumerate(counts.tolist()) if n}
