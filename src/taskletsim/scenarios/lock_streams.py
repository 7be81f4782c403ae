"""``lock-open`` and ``lock-closed``: one spinlock under an open or closed load.

These validate the lock models against queueing theory (docs/validation.md)
before anything is built on them.

``lock-open``: an open Poisson stream of acquisitions at ``rate_per_s`` in
total, each from a CPU drawn uniformly among ``cpus``. A spinlock's waiters
are CPUs: a CPU with a request outstanding queues its next ones locally, so
at most ``cpus`` spin (``spinners=cpus``). A request queued on its CPU joins
the lock when its CPU's previous request releases it: its wait on the lock
(``LOCK_CONTEND`` to ``LOCK_ACQUIRE``, what ``lock_stat`` measures) starts
then. ``spinners=unbounded`` makes every request its own context instead (a
CPU may spin for several): the textbook single queue, whose mean wait is
M/D/1's or M/M/1's (the lock is never idle while a request waits, and the
order ignores hold times), and the form in which a TTAS or ticket lock under
an open load collapses without bound.

``lock-closed``: ``cpus`` CPUs, each looping think (exponential, mean
``think_ns``) -> acquire -> hold -> release: the machine-repairman queue,
and with a per-waiter transfer cost the Boyd-Wickizer chain.

Hold times are drawn when the lock is granted, from one stream in grant
order, so every lock kind sees the same sequence of holds: with
``transfer_ns=0`` all three kinds have exactly the same total wait.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from ..core.config import ConfigError, Param
from ..core.sim import DrawStream, Simulation
from ..platform.locks import LOCK_KINDS, SpinLock, make_lock
from ..platform.topology import MAX_CPUS, TRANSFER_PRESETS, Topology, TransferCosts
from .base import Scenario, register_scenario

LOCK_PARAMS: tuple[Param, ...] = (
    Param("cpus", "int", 8, "physical CPUs", minimum=1, maximum=MAX_CPUS),
    Param("sockets", "int", 2, "sockets the CPUs are spread over", minimum=1, maximum=MAX_CPUS),
    Param("threads_per_core", "int", 1, "SMT threads per core", minimum=1, maximum=MAX_CPUS),
    Param("hold_ns", "float", 1000.0, "mean lock hold time, ns", positive=True),
    Param("hold", "choice", "exp", "hold time distribution", choices=("const", "exp")),
    Param("lock", "choice", "ttas", "lock kind", choices=LOCK_KINDS.names),
    Param(
        "transfer_costs",
        "choice",
        "perfbook-2017",
        "measured cache-line transfer costs by distance (docs/locks.md)",
        choices=tuple(TRANSFER_PRESETS),
    ),
    Param(
        "transfer_ns",
        "int",
        None,
        "overrides every distance's cache-line transfer cost, ns (0: textbook FIFO server)",
        minimum=0,
        optional=True,
    ),
    Param(
        "numa_bias",
        "float",
        1.0,
        "TTAS: weight of a spinner on the releaser's socket vs a remote one (1 = uniform)",
        minimum=1.0,
    ),
    Param(
        "spinner_share",
        "float",
        0.5,
        "TTAS: share of the other spinners' line transfers added to a handoff (assumption)",
        minimum=0.0,
        maximum=1.0,
    ),
)


def transfer_costs(params: Mapping[str, Any]) -> TransferCosts:
    """The transfer costs the parameters name: the preset, unless ``transfer_ns`` is set."""
    if params.get("transfer_ns") is not None:
        return TransferCosts.uniform(params["transfer_ns"])
    return TRANSFER_PRESETS[params.get("transfer_costs", "perfbook-2017")]


def build_lock(sim: Simulation, params: dict[str, Any], name: str = "lock") -> SpinLock:
    """The topology and the lock described by the common lock parameters."""
    costs = transfer_costs(params)
    topology = Topology.from_cpus(
        params["cpus"], params["sockets"], params["threads_per_core"], costs
    )
    sim.trace.meta.topology = topology.describe()
    sim.trace.meta.cpu_socket = topology.socket_list
    sim.trace.meta.lock_kind = params["lock"]
    return make_lock(
        params["lock"],
        sim,
        name,
        topology,
        numa_bias=params["numa_bias"],
        spinner_share=params["spinner_share"],
    )


def hold_stream(sim: Simulation, params: dict[str, Any]) -> Callable[[], int]:
    """Hold times in ns, constant or exponential, drawn in grant order."""
    if params["hold"] == "const":
        hold = round(params["hold_ns"])
        if hold < 1:
            raise ConfigError("hold_ns", params["hold_ns"], "at least 1 ns")
        return lambda: hold
    return sim.exponential("hold", params["hold_ns"])


@register_scenario
class LockOpen(Scenario):
    """Open Poisson stream of acquisitions of one lock (M/D/1, M/M/1)."""

    name = "lock-open"
    description = "open Poisson stream of lock requests on one spinlock (M/D/1, M/M/1 check)"
    params = (
        *LOCK_PARAMS,
        Param("rate_per_s", "float", 300_000.0, "total request rate, per second", positive=True),
        Param(
            "spinners",
            "choice",
            "cpus",
            "cpus: a CPU queues its next requests locally, at most cpus spin; "
            "unbounded: every request spins",
            choices=("cpus", "unbounded"),
        ),
    )
    default_duration_ms = 100.0

    def build(
        self, sim: Simulation, params: dict[str, Any], design: str | None = None
    ) -> Callable[[], dict[str, Any]]:
        lock = build_lock(sim, params)
        gap: DrawStream = sim.exponential("arrivals", 1e9 / params["rate_per_s"])
        which_cpu = sim.integers("arrival-cpu", params["cpus"])
        hold = hold_stream(sim, params)
        clock = sim.clock
        per_cpu = params["spinners"] == "cpus"
        queued: list[deque[int]] = [deque() for _ in range(params["cpus"])]
        active = [False] * params["cpus"]

        def release(_event: object) -> None:
            cpu = lock.holder
            lock.release(cpu)
            if not per_cpu:
                return
            if queued[cpu]:
                queued[cpu].popleft()
                lock.acquire(cpu, granted)
            else:
                active[cpu] = False

        def arrival(_event: object) -> None:
            cpu = which_cpu()
            if not per_cpu:
                lock.acquire(cpu, granted)
            elif active[cpu]:
                queued[cpu].append(clock.now)
            else:
                active[cpu] = True
                lock.acquire(cpu, granted)
            next_arrival()

        granted = sim.later(hold, release)  # the hold runs from the grant
        next_arrival = sim.later(gap, arrival)
        next_arrival()
        offered = params["rate_per_s"] * params["hold_ns"] * 1e-9

        def info() -> dict[str, Any]:
            return {
                "offered_load": offered,
                "saturated": offered >= 1.0,
                "backlog": lock.nwait + sum(len(q) for q in queued),
            }

        return info


class _LoopingCpu:
    """One CPU of ``lock-closed``: think -> acquire -> hold -> release, as callbacks."""

    __slots__ = ("_lock", "_thinks", "cpu", "granted")

    def __init__(
        self, sim: Simulation, cpu: int, lock: SpinLock, think: DrawStream, hold: Callable[[], int]
    ) -> None:
        self.cpu = cpu
        self._lock = lock
        self.granted = sim.later(hold, self.release)  # the hold runs from the grant
        self._thinks = sim.later(think, self.thought)  # the think time, from the release
        self._thinks()

    def thought(self, _event: object) -> None:
        self._lock.acquire(self.cpu, self.granted)

    def release(self, _event: object) -> None:
        self._lock.release(self.cpu)
        self._thinks()


@register_scenario
class LockClosed(Scenario):
    """``cpus`` CPUs looping on one lock (machine repairman, Boyd-Wickizer chain)."""

    name = "lock-closed"
    description = "CPUs looping think -> acquire -> hold -> release on one spinlock"
    params = (
        *LOCK_PARAMS,
        Param(
            "think_ns", "float", 10_000.0, "mean think time between acquisitions, ns", positive=True
        ),
    )
    default_duration_ms = 100.0

    def build(
        self, sim: Simulation, params: dict[str, Any], design: str | None = None
    ) -> Callable[[], dict[str, Any]]:
        lock = build_lock(sim, params)
        hold = hold_stream(sim, params)
        for cpu in range(params["cpus"]):
            _LoopingCpu(sim, cpu, lock, sim.exponential(f"think:{cpu}", params["think_ns"]), hold)
        return lambda: {"backlog": lock.nwait}
