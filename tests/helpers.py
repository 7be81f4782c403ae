"""Helpers the tests share: the command in a fresh process, lock runs, tiny hand-checkable
hosts and their events by name. (Fixtures live in ``conftest.py``.)"""

from __future__ import annotations

import math
import struct
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import taskletsim as ts
from taskletsim.capture.xenformat import CPU_CHANGE_HEADER, TRC_HD_CYCLE_FLAG, runstate_event
from taskletsim.core.events import EventKind as K
from taskletsim.core.sim import Simulation
from taskletsim.core.trace import Trace
from taskletsim.hv.costs import HvCosts
from taskletsim.hv.machine import Machine
from taskletsim.metrics import LockStats
from taskletsim.runner.stats import Estimate

WARMUP_NS = 10_000_000  # 10 ms discarded at the start of queueing checks


def taskletsim_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m taskletsim ARGS`` in a fresh process, capturing its output."""
    return subprocess.run(
        [sys.executable, "-m", "taskletsim", *args], capture_output=True, text=True, check=False
    )


def lock_run(
    scenario: str, duration_ms: float, seed: int = 1, **params: Any
) -> tuple[ts.RunResult, LockStats]:
    """Run a lock scenario and return its result and the stats of its one lock."""
    result = ts.run(scenario, seed=seed, duration_ms=duration_ms, params=params)
    return result, ts.lock_stats(result.trace, start_ns=WARMUP_NS)["lock"]


# Round numbers, so that event times can be worked out by hand.
HAND_COSTS = HvCosts(
    vmexit_ns=300,
    vmentry_ns=300,
    irq_entry_ns=100,
    irq_exit_ns=50,
    softirq_dispatch_ns=10,
    irq_save_restore_ns=0,
    ipi_send_ns=50,
    ipi_latency_ns=500,
    tasklet_list_ns=20,
    hvm_dirq_assist_ns=200,
    vmsi_deliver_ns=100,
    timer_fn_ns=60,
    evtchn_ns=40,
    vcpu_wake_ns=100,
    schedule_ns=100,
    context_switch_ns=1000,
    intr_assist_ns=10,
    inject_ns=20,
    eoi_exit_ns=100,
    guest_isr_ns=1000,
    guest_tick_ns=1000,
    hypercall_ns=100,
    napi_poll_ns=100,
)
assert {f.name for f in fields(HvCosts)} == set(HAND_COSTS.__dict__)


def tiny(
    design: str = "xen-4.4-global",
    lock: str = "ttas",
    seed: int = 0,
    options: dict[str, object] | None = None,
) -> Machine:
    """2 sockets x 2 cores (CPUs 0, 1 | 2, 3), perfbook transfer costs (7/102/443 ns)."""
    sim = Simulation(seed)
    sim.trace.meta.duration_ns = 10**9
    return Machine(
        sim, ts.Topology(2, 2), design=design, costs=HAND_COSTS, lock=lock, design_options=options
    )


def events(
    m: Machine | Trace, kinds: tuple[K, ...] | None = None, until: int | None = None
) -> list[tuple[int, int, str, str, int | str]]:
    """The trace (of a machine, or a trace) as (time, cpu, kind, subject name, arg),
    subjects named; the arg of ``TASKLET_SCHEDULE`` (the causing IRQ source) and
    ``VIRQ_INJECT`` (the vCPU) too."""
    trace = m if isinstance(m, Trace) else m.sim.trace.finish()
    softirqs = trace.meta.softirqs
    spaces = {
        K.LOCK_CONTEND: "lock",
        K.LOCK_ACQUIRE: "lock",
        K.LOCK_RELEASE: "lock",
        K.IRQ_RAISE: "irq",
        K.IRQ_COALESCE: "irq",
        K.IRQ_ENTRY: "irq",
        K.IRQ_EXIT: "irq",
        K.VIRQ_INJECT: "irq",
        K.TASKLET_SCHEDULE: "tasklet",
        K.TASKLET_ENTRY: "tasklet",
        K.TASKLET_EXIT: "tasklet",
        K.RUNSTATE_CHANGE: "vcpu",
        K.VM_EXIT: "vcpu",
        K.VM_ENTRY: "vcpu",
    }
    out = []
    for t, c, k, s, a in zip(
        trace.time_ns, trace.cpu, trace.kind, trace.subject, trace.arg, strict=True
    ):
        kind = K(int(k))
        if kinds is not None and kind not in kinds:
            continue
        if until is not None and t > until:
            break
        space = spaces.get(kind)
        name = softirqs[s] if space is None else trace.names.name(space, int(s))
        arg: int | str = int(a)
        if kind == K.TASKLET_SCHEDULE:
            arg = trace.names.name("irq", int(a)) if a >= 0 else "-"
        elif kind == K.VIRQ_INJECT:
            arg = trace.names.name("vcpu", int(a))
        out.append((int(t), int(c), kind.name, name, arg))
    return out


# xentrace files written by hand, record by record


def rec(event: int, data: Sequence[int] = (), tsc: int | None = None) -> bytes:
    """One record: its header, its TSC if given, its data words."""
    header = event | (len(data) << 28) | (TRC_HD_CYCLE_FLAG if tsc is not None else 0)
    out = struct.pack("<I", header)
    if tsc is not None:
        out += struct.pack("<II", tsc & 0xFFFFFFFF, tsc >> 32)
    return out + b"".join(struct.pack("<I", d & 0xFFFFFFFF) for d in data)


def window(cpu: int, *records: bytes) -> bytes:
    """A pCPU's window: its cpu-change record, then the records."""
    body = b"".join(records)
    return struct.pack("<III", CPU_CHANGE_HEADER, cpu, len(body)) + body


def runstate(dom: int, vcpu: int, old: int, new: int, tsc: int) -> bytes:
    """``TRC_SCHED_RUNSTATE_CHANGE`` of ``d{dom}v{vcpu}``."""
    return rec(runstate_event(old, new), [(dom << 16) | vcpu], tsc)


XEN_DESIGNS = ts.scenario_designs(ts.get_scenario("small-2socket"))
"""The package's designs that run on the Xen host (every one but the Linux host's own)."""


def differing(a: dict[str, Estimate], b: dict[str, Estimate]) -> list[tuple[Any, ...]]:
    """The figures whose two means differ by more than the 95% CI of their difference
    (sqrt(ci_a^2 + ci_b^2)), and by more than 0.5% (a quantised figure's CI may be 0).

    The fitted host's runs are samples of their own: any fitted parameter that differs
    from the run's in its last digit makes every random stream diverge, so the first
    run's CI alone would reject a correct host on 5-9% of figures by chance."""
    out = []
    for name in a:
        gap = abs(a[name].mean - b[name].mean)
        ci = math.hypot(a[name].ci95, b[name].ci95)
        if gap > ci + 1e-9 and gap > 0.005 * abs(a[name].mean):
            out.append((name, a[name].mean, a[name].ci95, b[name].mean, b[name].ci95))
    return out
