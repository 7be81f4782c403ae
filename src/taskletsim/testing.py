"""``check_design``: the conformance suite any tasklet design must pass.

Run it on a design of your own before you trust its numbers::

    from taskletsim.testing import check_design
    check_design("per-socket")          # or the class, or "package.module:Class"

Each step builds a tiny host (2 sockets x 2 cores, CPUs 0-1 and 2-3), drives
one mechanism of the design contract (``taskletsim.hv.seam.DesignHooks``),
and checks the trace. The first failure raises :class:`DesignCheckError`
naming the step and what was missing, e.g. a ``TASKLET_ENTRY`` the design
never emitted. The steps:

1. one passthrough interrupt on an idle CPU, end to end: raise, handler,
   ``TASKLET_SCHEDULE`` caused by it, ``TASKLET_ENTRY``, ``TASKLET_EXIT``,
   the vIRQ injected; a latency sample for every stage;
2. a timer tick wakes an idle vCPU through its ``assert_evtchn_irq_tasklet``;
3. a tasklet scheduled while it runs is run again, after the first run;
4. a tasklet scheduled on another CPU runs there;
5. ``tasklet_kill`` waits for the run, and a schedule after it is ignored;
   killing a tasklet queued on another CPU: it does not run after the kill;
6. a CPU going offline with a tasklet queued: the tasklet still runs;
7. nothing is lost under load: MSIs on three CPUs for one domain, then
   quiet; every schedule is followed by a run and every pirq delivered.

A design that runs on the bare-metal Linux host (``taskletsim.linux.seam``)
takes that host's steps instead (a design on both hosts takes both): one
device interrupt end to end; deferred work scheduled from another CPU's
interrupt while it runs runs again, after the first run; nothing lost
under load (interrupts on three CPUs, one of them busy with a task).

Every step's trace must also pass :func:`taskletsim.metrics.check_trace`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .core.events import EventKind
from .core.sim import Simulation
from .core.trace import Trace
from .designs.base import get_design
from .hv.machine import Machine
from .hv.seam import DESIGNS, Cpu, DesignHooks, Proc, Tasklet
from .kernel.seam import design_hosts
from .linux.machine import LinuxHost
from .metrics import InvariantError, check_trace, irq_latency_samples
from .platform.arrivals import Periodic, Replay
from .platform.topology import Topology

__all__ = ["DesignCheckError", "check_design"]

K = EventKind


class DesignCheckError(AssertionError):
    """A design broke its contract; the message names the step and what went wrong."""


@dataclass
class _Step:
    design: str
    title: str
    trace: Trace | None = None

    def fail(self, what: str) -> DesignCheckError:
        """The error, naming a lock left held at the end of the step's run if there is
        one (a path that took it and never let it go: a step begun and never driven)."""
        held = _held_at_end(self.trace) if self.trace is not None else ""
        return DesignCheckError(f"check_design({self.design}): {self.title}: {what}{held}")


def _held_at_end(trace: Trace) -> str:
    try:
        check_trace(trace, drained=True)
    except InvariantError as error:
        if error.invariant == "lock-released":
            return f" ({error.detail})"
    return ""


def _host(design: str, seed: int = 0) -> Machine:
    sim = Simulation(seed)
    return Machine(sim, Topology(2, 2), design=design)


def _finish(m: Machine | LinuxHost, until: int, step: _Step) -> Trace:
    try:
        m.sim.run(until)
    except Exception as error:
        raise step.fail(f"the run raised {type(error).__name__}: {error}") from error
    m.sim.trace.meta.duration_ns = until
    step.trace = m.sim.trace.finish()
    return step.trace


def _invariants(trace: Trace, step: _Step, drained: bool = True) -> None:
    """After the step's own checks, which name what is missing more precisely."""
    try:
        check_trace(trace, drained=drained)
    except InvariantError as error:
        raise step.fail(f"invariant broken: {error}") from None


def _rows(trace: Trace, kind: EventKind, subject: int | None = None) -> np.ndarray:
    sel = trace.kind == int(kind)
    if subject is not None:
        sel &= trace.subject == subject
    return np.flatnonzero(sel)


def _name(trace: Trace, space: str, ident: int) -> str:
    return trace.names.name(space, ident)


def _chain(trace: Trace, source: int, step: _Step) -> None:
    """Raise -> handler -> TASKLET_SCHEDULE caused by ``source`` -> ENTRY -> EXIT."""
    source_name = _name(trace, "irq", source)
    if not len(_rows(trace, K.IRQ_ENTRY, source)):
        raise step.fail(f"the interrupt of {source_name} never reached its handler (IRQ_ENTRY)")
    scheds = _rows(trace, K.TASKLET_SCHEDULE)
    caused = scheds[trace.arg[scheds] == source]
    if not len(caused):
        raise step.fail(
            f"no TASKLET_SCHEDULE caused by {source_name}: call traced_schedule(cpu, t, cause) "
            "when the deferred work is scheduled"
        )
    tasklet = int(trace.subject[caused[0]])
    label = _name(trace, "tasklet", tasklet)
    entries = _rows(trace, K.TASKLET_ENTRY, tasklet)
    if not len(entries[entries > caused[0]]):
        raise step.fail(
            f"no TASKLET_ENTRY of {label} after its TASKLET_SCHEDULE: call traced_claim(cpu, t) "
            "where the design marks the tasklet running"
        )
    exits = _rows(trace, K.TASKLET_EXIT, tasklet)
    if not len(exits[exits > entries[entries > caused[0]][0]]):
        raise step.fail(
            f"no TASKLET_EXIT of {label} after its TASKLET_ENTRY: run it with run_tasklet(cpu, t)"
        )


def _latency_present(trace: Trace, source: int, stages: tuple[str, ...], step: _Step) -> None:
    name = _name(trace, "irq", source)
    samples = irq_latency_samples(trace, kinds=("device", "timer")).get(name, {})
    for stage in stages:
        if stage not in samples or not len(samples[stage]):
            raise step.fail(f"no {stage} latency sample for {name}")


def _tasklet(m: Machine, name: str, ns: int, also: Callable[[Cpu], None] | None = None) -> Tasklet:
    def func(cpu: Cpu) -> Proc:
        if also is not None:
            also(cpu)
        yield from cpu.work(ns)

    return m.design.tasklet_init(name, func)


def _at(m: Machine, when: int, cpu: int, work: Callable[[Cpu], Proc]) -> None:
    """Run ``work`` on ``cpu``'s idle loop, asked by an IPI sent at ``when``."""
    m.sim.call_later(when, lambda _e: m.cpus[cpu].call_on_cpu(work))


def _one_interrupt(design: str) -> None:
    step = _Step(design, "one passthrough interrupt on an idle CPU")
    m = _host(design)
    d = m.add_domain("dom")
    v = m.add_vcpu(d, 0, "idle")
    source = m.add_device(d, v, Replay((1000,)))
    trace = _finish(m, 100_000, step)
    _chain(trace, source.id, step)
    if not len(_rows(trace, K.VIRQ_INJECT, source.id)):
        raise step.fail(f"the vIRQ of {source.name} was never injected (VIRQ_INJECT)")
    _latency_present(trace, source.id, ("handler", "tasklet", "virq"), step)
    _invariants(trace, step)


def _timer_tick(design: str) -> None:
    step = _Step(design, "a timer tick wakes an idle vCPU")
    m = _host(design)
    d = m.add_domain("dom")
    v = m.add_vcpu(d, 1, "idle", burst_ns=1000)
    tick = m.add_tick(v, Periodic(100_000, phase_ns=1000))
    trace = _finish(m, 150_000, step)
    _chain(trace, tick.id, step)
    if not len(_rows(trace, K.VIRQ_INJECT, tick.id)):
        raise step.fail("the timer's vIRQ was never injected into the vCPU")
    _latency_present(trace, tick.id, ("handler", "tasklet", "virq"), step)
    _invariants(trace, step, drained=False)


def _scheduled_while_running(design: str) -> None:
    step = _Step(design, "a tasklet scheduled while it runs is run again")
    m = _host(design)
    runs: list[int] = []

    def again(cpu: Cpu) -> None:
        runs.append(m.sim.now)
        if len(runs) == 1:  # ask CPU 1 to schedule it while it still runs here
            _at(m, 0, 1, lambda c: m.design.tasklet_schedule(c, t))

    t = _tasklet(m, "t", 5000, also=again)
    _at(m, 1000, 0, lambda c: m.design.tasklet_schedule(c, t))
    trace = _finish(m, 100_000, step)
    entries = _rows(trace, K.TASKLET_ENTRY, t.id)
    if len(entries) != 2:
        raise step.fail(f"{len(entries)} TASKLET_ENTRY of t, expected 2 (one per schedule)")
    first_exit = _rows(trace, K.TASKLET_EXIT, t.id)[0]
    if not entries[1] > first_exit:
        raise step.fail("the second run began before the first ended")
    _invariants(trace, step)


def _on_another_cpu(design: str) -> None:
    step = _Step(design, "a tasklet scheduled on another CPU runs there")
    m = _host(design)
    t = _tasklet(m, "t", 100)
    _at(m, 1000, 0, lambda c: m.design.tasklet_schedule_on_cpu(c, t, 2))
    trace = _finish(m, 100_000, step)
    entries = _rows(trace, K.TASKLET_ENTRY, t.id)
    if len(entries) != 1:
        raise step.fail(f"{len(entries)} TASKLET_ENTRY of t, expected 1")
    if int(trace.cpu[entries[0]]) != 2:
        raise step.fail(f"it ran on CPU {int(trace.cpu[entries[0]])}, not on CPU 2")
    _invariants(trace, step)


def _kill(design: str) -> None:
    step = _Step(design, "tasklet_kill")
    m = _host(design)
    t = _tasklet(m, "t", 2000)
    killed: list[int] = []

    def kill(cpu: Cpu) -> Proc:
        yield from m.design.tasklet_kill(cpu, t)
        killed.append(m.sim.now)
        yield from m.design.tasklet_schedule(cpu, t)

    _at(m, 1000, 0, lambda c: m.design.tasklet_schedule(c, t))
    _at(m, 1500, 1, kill)
    trace = _finish(m, 100_000, step)
    if not killed:
        raise step.fail("tasklet_kill never returned")
    exits = trace.time_ns[_rows(trace, K.TASKLET_EXIT, t.id)]
    if not len(exits) or killed[0] < exits[0]:
        raise step.fail("tasklet_kill returned while the tasklet was still running")
    if len(_rows(trace, K.TASKLET_ENTRY, t.id)) != 1:
        raise step.fail("a schedule after tasklet_kill made the dead tasklet run")
    if not t.is_dead:
        raise step.fail("the tasklet is not marked dead (is_dead)")
    _invariants(trace, step, drained=False)


def _kill_queued(design: str) -> None:
    step = _Step(design, "tasklet_kill of a tasklet queued on another CPU")
    m = _host(design)
    t = _tasklet(m, "t", 100)
    killed: list[int] = []

    def schedule_then_kill(cpu: Cpu) -> Proc:
        yield from m.design.tasklet_schedule_on_cpu(cpu, t, 2)
        yield from m.design.tasklet_kill(cpu, t)
        killed.append(m.sim.now)

    _at(m, 1000, 0, schedule_then_kill)
    trace = _finish(m, 100_000, step)
    if not killed:
        raise step.fail("tasklet_kill never returned")
    entries = trace.time_ns[_rows(trace, K.TASKLET_ENTRY, t.id)]
    if (entries > killed[0]).any():
        raise step.fail("the tasklet ran after tasklet_kill returned")
    if len(_rows(trace, K.TASKLET_EXIT, t.id)) != len(entries):
        raise step.fail("tasklet_kill returned while the tasklet was still running")
    _invariants(trace, step, drained=False)


def _cpu_offline(design: str) -> None:
    step = _Step(design, "a CPU goes offline with a tasklet queued")
    m = _host(design)
    t = _tasklet(m, "t", 100)

    def schedule_then_die(cpu: Cpu) -> Proc:
        yield from m.design.tasklet_schedule(cpu, t)
        m.cpu_down(2, on=0)

    _at(m, 1000, 2, schedule_then_die)
    trace = _finish(m, 100_000, step)
    entries = _rows(trace, K.TASKLET_ENTRY, t.id)
    if len(entries) != 1:
        raise step.fail(f"{len(entries)} TASKLET_ENTRY of t after CPU 2 went down, expected 1")
    if int(trace.cpu[entries[0]]) == 2:
        raise step.fail("the tasklet ran on the offline CPU 2")
    _invariants(trace, step)


def _under_load(design: str) -> None:
    step = _Step(design, "nothing is lost under load")
    m = _host(design, seed=3)
    d = m.add_domain("dom")
    v = m.add_vcpu(d, 3, "busy")
    rng = np.random.default_rng(5)
    sources = []
    for cpu in (0, 1, 2):
        times = tuple(np.sort(rng.integers(0, 2_000_000, 200)).tolist())
        sources.append(m.add_device(d, v, Replay(times), cpu=cpu))
    trace = _finish(m, 4_000_000, step)
    for source in sources:
        if not len(_rows(trace, K.VIRQ_INJECT, source.id)):
            raise step.fail(f"no vIRQ of {source.name} was ever injected")
    if any(p.masked for p in d.pirqs):
        raise step.fail("a pirq is still marked pending when all is quiet")
    _invariants(trace, step)


# -- the Linux host's steps (taskletsim.linux.seam.LinuxDesignHooks) -------------------


def _linux_host(design: str, seed: int = 0) -> LinuxHost:
    return LinuxHost(Simulation(seed), Topology(2, 2), design=design)


def _linux_device(host: LinuxHost, name: str, cpu: int, times: tuple[int, ...], t: Tasklet) -> int:
    """A device on ``cpu`` interrupting at ``times``; its handler defers ``t``."""

    def handler(c: Cpu, seq: int) -> Proc:
        yield from host.design.tasklet_schedule(c, t, source.id)

    source = host.add_device(name, cpu, handler)
    source.start(Replay(times))
    return source.id


def _linux_work(host: LinuxHost, name: str, ns: int, runs: list[tuple[int, int]]) -> Tasklet:
    def func(cpu: Cpu) -> Proc:
        runs.append((host.sim.now, cpu.id))
        yield from cpu.work(ns)

    return host.design.tasklet_init(name, func)


def _linux_one_interrupt(design: str) -> None:
    step = _Step(design, "linux host: one device interrupt on an idle CPU")
    host = _linux_host(design)
    t = _linux_work(host, "t", 100, [])
    source = _linux_device(host, "dev", 0, (1000,), t)
    trace = _finish(host, 100_000, step)
    _chain(trace, source, step)
    _latency_present(trace, source, ("handler", "tasklet"), step)
    _invariants(trace, step)


def _linux_scheduled_while_running(design: str) -> None:
    step = _Step(design, "linux host: deferred work scheduled while it runs runs again after")
    host = _linux_host(design)
    runs: list[tuple[int, int]] = []
    t = _linux_work(host, "t", 5000, runs)
    _linux_device(host, "dev0", 0, (1000,), t)
    _linux_device(host, "dev1", 2, (5000,), t)  # while the first run goes, in every design
    trace = _finish(host, 100_000, step)
    entries = _rows(trace, K.TASKLET_ENTRY, t.id)
    if len(entries) != 2:
        raise step.fail(f"{len(entries)} TASKLET_ENTRY of t, expected 2 (one per schedule)")
    if not entries[1] > _rows(trace, K.TASKLET_EXIT, t.id)[0]:
        raise step.fail("the second run began before the first ended")
    _invariants(trace, step)


def _linux_under_load(design: str) -> None:
    step = _Step(design, "linux host: nothing is lost under load")
    host = _linux_host(design, seed=3)
    host.add_busy_task("hog", (1,))
    rng = np.random.default_rng(5)
    works = []
    for cpu in (0, 1, 2):
        t = _linux_work(host, f"t{cpu}", 2000, [])
        times = tuple(np.sort(rng.integers(0, 2_000_000, 200)).tolist())
        _linux_device(host, f"dev{cpu}", cpu, times, t)
        works.append(t)
    trace = _finish(host, 4_000_000, step)
    for t in works:
        if not len(_rows(trace, K.TASKLET_EXIT, t.id)):
            raise step.fail(f"{t.name} never ran")
    _invariants(trace, step)


LINUX_STEPS: tuple[Callable[[str], None], ...] = (
    _linux_one_interrupt,
    _linux_scheduled_while_running,
    _linux_under_load,
)
"""The steps of a design that runs on the Linux host."""


STEPS: tuple[Callable[[str], None], ...] = (
    _one_interrupt,
    _timer_tick,
    _scheduled_while_running,
    _on_another_cpu,
    _kill,
    _kill_queued,
    _cpu_offline,
    _under_load,
)


def check_design(design: str | type[DesignHooks]) -> None:
    """Run the conformance steps on ``design`` (a registered name, ``module:Class``, or a
    design class, registered here if it is not yet); raise :class:`DesignCheckError` at
    the first failure."""
    if isinstance(design, str):
        name = get_design(design).name
    else:
        name = design.name
        if name not in DESIGNS or DESIGNS[name] is not design:
            DESIGNS.register(design)
    hosts = design_hosts(get_design(name))
    for step in (*(STEPS if "xen" in hosts else ()), *(LINUX_STEPS if "linux" in hosts else ())):
        step(name)
