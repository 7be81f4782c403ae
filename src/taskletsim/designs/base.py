"""The base class every tasklet design extends, and the design registry's functions.

A design decides how deferred interrupt work (a *tasklet*) is queued and run:
``tasklet_schedule`` from IRQ or softirq context, ``tasklet_schedule_on_cpu``
for another CPU, the softirq action(s) that run it, ``tasklet_kill`` and
``migrate_tasklets_from_cpu`` for a CPU going offline. The two interrupt
paths of the seed call it through :meth:`TaskletDesign.hvm_do_IRQ_dpci`
(passthrough MSI, path B) and :meth:`TaskletDesign.tasklet_schedule` of a
vCPU's ``assert_evtchn_irq_tasklet`` (timer tick, path A). What each hook
may assume and must do is written once, on
:class:`taskletsim.hv.seam.DesignHooks`; a design sees the host only through
the interfaces of that module.

To add a design: subclass :class:`TaskletDesign`, set ``name``,
``description`` (and ``softirqs``, ``default_lock``, ``options`` if it has
them), implement :meth:`~TaskletDesign.softirq_handlers`,
:meth:`~TaskletDesign.tasklet_schedule_on_cpu`,
:meth:`~TaskletDesign.tasklet_kill` and
:meth:`~TaskletDesign.migrate_tasklets_from_cpu`, and register the class
with :func:`register_design` (or an entry point in the group
``taskletsim.designs``). Trace the tasklet's life with
:meth:`~TaskletDesign.traced_schedule`, :meth:`~TaskletDesign.traced_claim`
where it is marked running and :meth:`~TaskletDesign.run_tasklet` to run it.
``taskletsim.testing.check_design`` tells whether the result keeps the
contract.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, overload

from ..core.config import ConfigError, Param
from ..hv.seam import (
    DESIGNS,
    STATE_RUN,
    STATE_SCHED,
    Cpu,
    DesignHooks,
    DomainView,
    Host,
    PirqView,
    Proc,
    SoftirqHandler,
    Tasklet,
    TaskletFunc,
)
from ..kernel.seam import Design

__all__ = [
    "STATE_RUN",
    "STATE_SCHED",
    "Proc",
    "SoftirqHandler",
    "Tasklet",
    "TaskletDesign",
    "TaskletFunc",
    "design_names",
    "get_design",
    "register_design",
]


class TaskletDesign(DesignHooks):
    """Base class of tasklet designs.

    ``softirqs`` lists the design's own softirqs as ``(name, before)``
    (``before``: an existing softirq to insert in front of, or ``None`` to
    append); :meth:`softirq_handlers` maps softirq names to actions.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    host: ClassVar[str] = "xen"
    """The kind of host the design runs on (:data:`taskletsim.kernel.seam.HOSTS`): these
    hooks are the Xen host's contract."""
    hosts: ClassVar[tuple[str, ...]] = ()
    """Every host the design runs on, if more than ``host`` (``linux``: Xen and Linux)."""
    softirqs: ClassVar[tuple[tuple[str, str | None], ...]] = ()
    default_lock: ClassVar[str] = "ttas"
    """The spinlock kind of the code base the design comes from (Xen 2014: TTAS)."""
    options: ClassVar[tuple[Param, ...]] = ()
    """Design-specific parameters, set like scenario parameters (``--set``)."""
    own_softirq_engine: ClassVar[bool] = False
    """Whether :meth:`do_softirq` is overridden (Linux's ``__do_softirq``); set for every
    subclass from whether it overrides it, so there is nothing to remember."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.own_softirq_engine = cls.do_softirq is not TaskletDesign.do_softirq

    def __init__(self, machine: Host) -> None:
        self.machine = machine
        self.sim = machine.sim
        self._trace = machine.sim.trace
        self._clock = machine.sim.clock
        self._cost = machine.topology.cost
        self.option = parse_options(self, machine.design_options)

    def do_softirq(self, cpu: Cpu) -> Proc:
        yield from cpu.xen_do_softirq()

    def softirqs_deferred(self, cpu: Cpu) -> bool:
        return False

    def atomic(self, cpu: Cpu, t: Tasklet) -> Proc:
        """A locked bit operation on ``t->state``: the line comes from its last toucher."""
        last = t.last_cpu if t.last_cpu >= 0 else cpu.id
        t.last_cpu = cpu.id
        yield from cpu.work(self._cost[last][cpu.id])

    # -- what every design must provide (contracts: taskletsim.hv.seam.DesignHooks) --

    def tasklet_schedule_on_cpu(self, cpu: Cpu, t: Tasklet, target: int, cause: int = -1) -> Proc:
        raise NotImplementedError

    def softirq_handlers(self) -> dict[str, SoftirqHandler]:
        raise NotImplementedError

    def tasklet_kill(self, cpu: Cpu, t: Tasklet) -> Proc:
        raise NotImplementedError

    def migrate_tasklets_from_cpu(self, cpu: Cpu, dead: int) -> Proc:
        raise NotImplementedError

    # -- shared behaviour ---------------------------------------------------

    def tasklet_init(self, name: str, func: TaskletFunc, is_softirq: bool = True) -> Tasklet:
        return Tasklet(self.sim.trace.names.add("tasklet", name), name, func, is_softirq)

    def tasklet_schedule(self, cpu: Cpu, t: Tasklet, cause: int = -1) -> Proc:
        return self.tasklet_schedule_on_cpu(cpu, t, cpu.id, cause)  # its generator itself

    def dirq_init(self, domain: DomainView, func: TaskletFunc) -> None:
        domain.dirq_tasklet = self.tasklet_init(f"{domain.name}:dirq_tasklet", func)

    def hvm_do_IRQ_dpci(self, cpu: Cpu, pirq: PirqView) -> Proc:
        domain = pirq.domain
        assert domain.dirq_tasklet is not None
        return self.tasklet_schedule(cpu, domain.dirq_tasklet, pirq.source.id)

    def kill_by_state_bits(self, cpu: Cpu, t: Tasklet) -> Proc:
        """``tasklet_kill`` of the bit-based designs (Linux, and the RFC's copy of it):
        take SCHED, running pending softirqs while someone else holds it, wait for
        RUN to clear, then mark the tasklet dead."""
        relax = self.machine.costs.tasklet_list_ns
        while True:
            yield from self.atomic(cpu, t)  # test_and_set_bit(TASKLET_STATE_SCHED)
            was = t.state
            t.state |= STATE_SCHED
            if not was & STATE_SCHED:
                break
            while t.state & STATE_SCHED:  # process_pending_softirqs() / yield()
                yield from cpu.xen_do_softirq()
                yield from cpu.work(relax)
        while t.state & STATE_RUN:  # tasklet_unlock_wait
            yield from cpu.work(relax)
        t.state &= ~STATE_SCHED
        t.is_dead = True

    def traced_schedule(self, cpu: Cpu, t: Tasklet, cause: int) -> None:
        """Record that ``t`` was scheduled, by ``cause`` (an IRQ source id or -1)."""
        self._trace.tasklet_schedule(cpu.id, t.id, cause)

    def traced_claim(self, cpu: Cpu, t: Tasklet) -> None:
        """Record ``TASKLET_ENTRY``: ``cpu`` has claimed ``t`` to run it.

        Emit it where the design marks the tasklet running (``is_running = 1``
        under the lock in Xen 4.4, the RUN bit in the per-CPU designs): a
        schedule after this point makes it run again.
        """
        self._trace.tasklet_entry(cpu.id, t.id)

    def traced_exit(self, cpu: Cpu, t: Tasklet) -> None:
        """Record ``TASKLET_EXIT``: ``cpu`` is done with ``t``."""
        self._trace.tasklet_exit(cpu.id, t.id)

    def run_tasklet(self, cpu: Cpu, t: Tasklet) -> Proc:
        """``t->func(t->data)``, then ``TASKLET_EXIT``."""
        yield from t.func(cpu)
        self.traced_exit(cpu, t)


@overload
def register_design(cls: type[TaskletDesign], *, replace: bool = ...) -> type[TaskletDesign]: ...
@overload
def register_design(
    cls: None = ..., *, replace: bool = ...
) -> Callable[[type[TaskletDesign]], type[TaskletDesign]]: ...
def register_design(
    cls: type[TaskletDesign] | None = None, *, replace: bool = False
) -> type[TaskletDesign] | Callable[[type[TaskletDesign]], type[TaskletDesign]]:
    """Make ``cls`` selectable by its ``name`` (``--design NAME``); usable as a decorator,
    bare or as ``@register_design(replace=True)``.

    A name already registered raises ``ConfigError`` unless ``replace=True``.
    """

    def add(design: type[TaskletDesign]) -> type[TaskletDesign]:
        DESIGNS.register(design, replace=replace)
        return design

    return add if cls is None else add(cls)


def get_design(name: str) -> type[Design]:
    """The design registered as ``name``, or imported from ``package.module:Class``."""
    return DESIGNS.resolve(name)


def design_names(*, builtin: bool | None = None) -> list[str]:
    """Names of the registered designs in registration order (the package's four first);
    ``builtin=True``: only the package's own."""
    return DESIGNS.names(builtin=builtin)


def designs_with_option(key: str) -> list[str]:
    """Names of the registered designs that have an option called ``key``."""
    return [n for n in DESIGNS.names() if any(p.name == key for p in DESIGNS[n].options)]


def parse_options(design: Any, given: Mapping[str, object]) -> dict[str, Any]:
    """``design``'s options: its defaults, overridden by the values ``given`` (parsed); a
    key that is not one of them is a ``ConfigError`` (:func:`option_error`)."""
    own = {p.name for p in design.options}
    for key in given:
        if key not in own:
            raise option_error(key, given[key], design.name)
    return {
        p.name: p.parse(given[p.name]) if p.name in given else p.default for p in design.options
    }


def option_error(key: str, value: object, design: str) -> ConfigError:
    """The error for ``key``, set for ``design`` but not one of its options."""
    own = ", ".join(p.name for p in DESIGNS.resolve(design).options) or "it has none"
    owners = designs_with_option(key)
    allowed = f"an option of design {design} ({own})"
    if owners:
        allowed += f"; {key} is an option of design {', '.join(owners)}"
    return ConfigError(key, value, allowed)
